"""A snapshot belongs to one incarnation of an id: a re-created thread is never marked by it."""

from __future__ import annotations

import asyncio

import pytest
from tiering_support import AfterPut, Backend, Clock, MakeRuntime, meta, new_thread, turns_ttl

from threadkeeper import keys
from threadkeeper.store.paging import TurnWindow

pytestmark = pytest.mark.anyio


async def test_a_thread_recreated_during_its_snapshot_stays_dirty(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, snapshot_idle=60)
    old = await new_thread(rt, "t1")
    loop = asyncio.get_running_loop()

    async def reset() -> None:
        # The client deletes the thread and creates it again: version 1 once more.
        await rt.service.delete("default", "t1")
        clock.advance(5)
        await new_thread(rt, "t1", turns=2)

    def race(key: str) -> None:
        if keys.snapshot_version(key) is not None:  # not the deletion's own tombstone
            asyncio.run_coroutine_threadsafe(reset(), loop).result(30)

    rt.tiering.archiver.archive = AfterPut(backend.archive, race)
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "missing"
    rt.tiering.archiver.archive = backend.archive

    new = await meta(rt, "t1")
    assert new.created_at != old.created_at and new.version == old.version == 1
    assert new.archived_version == 0 and new.dirty  # the archive holds nothing of it
    assert await turns_ttl(rt, "t1") == -1  # so its turns never expire
    assert await rt.redis.zscore(keys.thread_keys("default", "t1").dirty, "default:t1") is not None
    view = await rt.service.read("default", "t1", TurnWindow())
    assert [t["content"] for t in view.turns] == ["turn 1", "turn 2"]
