"""The sharded global indexes: spread over slots, read whole, paged exactly under writes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from store_support import Clock, blob, list_all, new_thread
from threadkeeper import keys
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.store.thread_store import ThreadStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ThreadStore]:
    client = async_client(redis_url)
    yield ThreadStore(client, hot_ttl=3600, clock=Clock())
    await client.aclose()


async def index_keys(store: ThreadStore) -> list[str]:
    names = [keys.activity_index(b) for b in keys.BUCKETS]
    names += [keys.dirty_index(b) for b in keys.BUCKETS]
    names += [keys.tenant_index("acme", b) for b in keys.BUCKETS]
    return [name for name in names if await store.redis.exists(name)]


async def test_appends_spread_their_index_writes_over_every_third_of_the_slots(
    store: ThreadStore,
) -> None:
    for i in range(48):
        assert await store.create(new_thread(f"t{i}", n=1), [blob("a")])
        await store.append("acme", f"t{i}", [blob("b")], max_turns=100)
    written = await index_keys(store)
    # A cluster created with redis-cli splits the slots in even ranges, one per master.
    thirds = {key_slot(name.encode()) * 3 // REDIS_CLUSTER_HASH_SLOTS for name in written}
    assert thirds == {0, 1, 2}
    assert len({key_slot(name.encode()) for name in written}) >= keys.INDEX_BUCKETS
    assert await store.indexes.dirty_count() == 48


async def test_sweeper_reads_see_every_bucket(store: ThreadStore) -> None:
    ids = [f"s{i}" for i in range(40)]
    for i, thread_id in enumerate(ids):
        assert await store.create(new_thread(thread_id, n=1, at=1000 + i), [blob("a")])
    assert {keys.thread_keys("acme", t).bucket for t in ids} == set(keys.BUCKETS)
    due = await store.indexes.due_for_snapshot(now=10_000, idle_ms=0, backup_ms=10**9, limit=100)
    assert sorted(due) == sorted(f"acme:{t}" for t in ids)
    assert await store.indexes.oldest_dirty() == 1000
    assert await store.indexes.idle_since(1000 + 4, limit=100) == [f"acme:s{i}" for i in range(5)]
    for i, thread_id in enumerate(ids[:6]):
        await store.indexes.owe_purge("acme", thread_id, "deleted", 50 + i)
    owed = await store.indexes.owed_purges(limit=4)
    assert [(t, at) for _, t, _, at in owed] == [(f"s{i}", 50 + i) for i in range(4)]
    assert await store.indexes.owed_purge_count() == 6


async def test_pages_list_every_unwritten_thread_once_while_writes_go_on(
    store: ThreadStore,
) -> None:
    ids = [f"p{i:03d}" for i in range(150)]
    for i, thread_id in enumerate(ids):
        # Ties on purpose: three threads per timestamp.
        assert await store.create(new_thread(thread_id, n=1, at=1000 + i // 3), [blob("a")])
    written: set[str] = set()
    stop = asyncio.Event()

    async def writer() -> None:
        rng = random.Random(7)
        n = 0
        while not stop.is_set():
            store.clock.now += 1
            victim = rng.choice(ids)
            written.add(victim)
            await store.append("acme", victim, [blob("w")], max_turns=10_000)
            assert await store.create(new_thread(f"new{n}", at=store.clock.now), [])
            written.add(f"new{n}")
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    seen: list[str] = []
    page = ThreadQuery(limit=7)
    try:
        while True:
            threads, cursor = await store.listing.threads("acme", page)
            seen += [x.thread.id for x in threads]
            await asyncio.sleep(0.001)
            if cursor is None:
                break
            page = ThreadQuery.decode(cursor, 7)
    finally:
        stop.set()
        await task
    assert len(seen) == len(set(seen)), "a thread was listed twice"
    assert set(ids) - written <= set(seen), "an unwritten thread was skipped"
    assert written - set(ids), "the writer wrote nothing while the pages were read"


async def test_legacy_unsharded_indexes_are_adopted(store: ThreadStore) -> None:
    assert await store.create(new_thread("old", n=1), [blob("a")])
    k = keys.thread_keys("acme", "old")
    await store.redis.delete(k.activity, k.dirty, k.listing)
    await store.redis.zadd(keys.LEGACY_DIRTY_INDEX, {k.member: 5})
    await store.redis.zadd(keys.LEGACY_ACTIVITY_INDEX, {k.member: 7})
    await store.redis.zadd(keys.LEGACY_PURGE_INDEX, {"acme:gone:deleted:9": 9})
    await store.redis.zadd("tk:idx:tenant:acme", {"old": 7})
    assert await store.indexes.adopt_legacy() == 4
    assert await store.redis.zscore(k.dirty, k.member) == 5
    assert await store.redis.zscore(k.activity, k.member) == 7
    assert await store.indexes.owed_purges(10) == [("acme", "gone", "deleted", 9)]
    threads, _ = await store.listing.threads("acme", ThreadQuery())
    assert [x.thread.id for x in threads] == ["old"]
    assert not await store.redis.exists(keys.LEGACY_DIRTY_INDEX, "tk:idx:tenant:acme")


async def test_pages_merge_the_buckets_in_exact_order(store: ThreadStore) -> None:
    # The 20 newest threads all share one bucket: a page must still take them first.
    same = [t for t in (f"b{i}" for i in range(2000)) if keys.bucket_of(f"acme:{t}") == 0][:20]
    others = [f"o{i:02d}" for i in range(40)]
    for i, thread_id in enumerate(others + same):
        assert await store.create(new_thread(thread_id, n=1, at=1000 + i), [blob("a")])
    assert await list_all(store, 7) == list(reversed(others + same))
