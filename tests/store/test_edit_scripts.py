"""The revision scripts' failure paths: each refuses before writing anything."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from store_support import Clock, blob, make
from threadkeeper import keys
from threadkeeper.store.edits import RevisionStore
from threadkeeper.store.thread_store import ThreadStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def revisions(redis_url: str) -> AsyncIterator[RevisionStore]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield RevisionStore(ThreadStore(client, hot_ttl=3600, clock=Clock()))
    await client.aclose()


async def snapshot_of(rev: RevisionStore, thread_id: str = "t1") -> tuple[object, object]:
    k = keys.thread_keys("acme", thread_id)
    return await rev.redis.hgetall(k.meta), await rev.redis.xrange(k.turns)


async def test_replace_keeps_every_seq_and_moves_the_version(revisions: RevisionStore) -> None:
    await make(revisions.store, 3)
    old = await revisions.turn_blob("acme", "t1", 2)
    assert old is not None
    edited = blob("edited")
    done = await revisions.replace_turn("acme", "t1", 2, old, edited)
    assert (done.status, done.version) == ("ok", 2)
    meta, entries = await snapshot_of(revisions)
    assert [e[0] for e in entries] == [b"0-1", b"0-2", b"0-3"]  # type: ignore[attr-defined]
    assert await revisions.turn_blob("acme", "t1", 2) == edited
    again = await revisions.replace_turn("acme", "t1", 2, old, edited)
    assert (again.status, again.version) == ("same", 2)


@pytest.mark.parametrize("case", ["missing", "version", "no_turn", "changed", "archived"])
async def test_replace_refuses_and_writes_nothing(revisions: RevisionStore, case: str) -> None:
    await make(revisions.store, 2)
    old = await revisions.turn_blob("acme", "t1", 1)
    assert old is not None
    seq, read, expected, thread_id = 1, old, None, "t1"
    if case == "missing":
        thread_id = "nope"
    elif case == "version":
        expected = 7
    elif case == "no_turn":
        seq = 3
    elif case == "changed":
        read = blob("what another writer saw")
    else:
        await revisions.redis.delete(keys.thread_keys("acme", "t1").turns)
    before = await snapshot_of(revisions)
    new = blob("new")
    result = await revisions.replace_turn("acme", thread_id, seq, read, new, expected)
    assert result.status == case
    assert await snapshot_of(revisions) == before


@pytest.mark.parametrize("case", ["missing", "version", "archived", "same"])
async def test_update_thread_refuses_and_writes_nothing(
    revisions: RevisionStore, case: str
) -> None:
    await make(revisions.store, 1)
    fields: dict[str, object] = {"title": "new", "metadata": {"k": "v"}}
    thread_id, expected = "t1", None
    if case == "missing":
        thread_id = "nope"
    elif case == "version":
        expected = 9
    elif case == "archived":
        await revisions.redis.delete(keys.thread_keys("acme", "t1").turns)
    else:
        fields = {"metadata": {}}
    before = await snapshot_of(revisions)
    result = await revisions.update_thread("acme", thread_id, fields, expected)
    assert result.status == case
    assert await snapshot_of(revisions) == before
    if case == "same":
        assert (await revisions.update_thread("acme", "t1", {"title": "x"})).status == "ok"
