"""Forking a thread whose newest turns nothing holds: from what remains, or refused."""

from __future__ import annotations

import pytest
from tiering_support import Backend, MakeRuntime, append, new_thread

from threadkeeper import keys
from threadkeeper.errors import Conflict
from threadkeeper.runtime import Runtime
from threadkeeper.store.paging import TurnWindow

pytestmark = pytest.mark.anyio


async def _contents(rt: Runtime, thread_id: str) -> list[str]:
    page = await rt.service.read("default", thread_id, TurnWindow(limit=10))
    return [turn["content"] for turn in page.turns]


async def _lose_stream(rt: Runtime, thread_id: str) -> None:
    """Redis restarted without persistence, say: the metadata came back, the turns did not."""
    await rt.redis.delete(keys.thread_keys("default", thread_id).turns)


async def test_a_thread_behind_its_archive_forks_from_what_the_archive_holds(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1", turns=2)
    await rt.tiering.archiver.archive_thread("default", "t1")
    await append(rt, "t1", "only in redis")
    await _lose_stream(rt, "t1")

    fork = (await rt.service.fork("default", "t1", 2, "f2")).thread

    assert (fork.fork_seq, fork.turn_count) == (2, 2)
    assert await _contents(rt, "f2") == ["turn 1", "turn 2"]
    with pytest.raises(Conflict) as refused:
        await rt.service.fork("default", "t1", 3, "f3")
    assert refused.value.extra["missing_turns"] == [3, 3]
    assert "only turns 1-2 are held" in refused.value.detail
    assert await rt.store.get("default", "f3") is None  # nothing empty was created


async def test_a_thread_with_every_turn_lost_cannot_be_forked_past_zero(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1", turns=2)  # never archived
    await _lose_stream(rt, "t1")

    with pytest.raises(Conflict) as refused:
        await rt.service.fork("default", "t1", 1, "f1")
    assert refused.value.extra["missing_turns"] == [1, 2]
    assert await rt.store.get("default", "f1") is None
    assert (await rt.service.fork("default", "t1", 0, "f0")).thread.turn_count == 0


async def test_an_evicted_archived_thread_forks_whole(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1", turns=3)
    await rt.tiering.archiver.archive_thread("default", "t1")
    await _lose_stream(rt, "t1")  # the hot TTL lapsed: the archive holds this version

    fork = (await rt.service.fork("default", "t1", 3, "f3")).thread

    assert fork.turn_count == 3
    assert await _contents(rt, "f3") == ["turn 1", "turn 2", "turn 3"]
