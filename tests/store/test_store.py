"""The hot store against a real redis-server: Lua writes, paging, indexes, tombstones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from store_support import Clock, blob, contents, list_all, make, new_thread
from threadkeeper import keys
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.store.thread_store import ThreadStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ThreadStore]:
    client = async_client(redis_url)
    yield ThreadStore(client, hot_ttl=3600, clock=Clock())
    await client.aclose()


async def test_create_then_read_back_in_both_orders(store: ThreadStore) -> None:
    await make(store, 5)
    asc = await store.read("acme", "t1", TurnWindow("asc", limit=10))
    desc = await store.read("acme", "t1", TurnWindow("desc", limit=10))
    assert asc is not None and desc is not None
    assert [s for s, _ in asc.turns] == [1, 2, 3, 4, 5]
    assert [s for s, _ in desc.turns] == [5, 4, 3, 2, 1]
    assert contents(asc.turns)[0] == "turn 1"
    assert asc.turns_in_redis and not asc.more


async def test_paging_follows_seq_both_ways(store: ThreadStore) -> None:
    await make(store, 7)
    seen: list[int] = []
    page: TurnWindow | None = TurnWindow("asc", limit=3)
    while page is not None:
        read = await store.read("acme", "t1", page)
        assert read is not None
        seen += [s for s, _ in read.turns]
        page = page.next_after(read.turns[-1][0]) if read.more else None
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    window = await store.read("acme", "t1", TurnWindow("desc", after=2, before=6, limit=10))
    assert window is not None and [s for s, _ in window.turns] == [5, 4, 3]


async def test_create_refuses_an_existing_id(store: ThreadStore) -> None:
    await make(store, 1)
    assert not await store.create(new_thread(), [blob("again")])
    read = await store.read("acme", "t1", TurnWindow(limit=10))
    assert read is not None and contents(read.turns) == ["turn 1"]


async def test_append_gives_gapless_seqs_and_bumps_version(store: ThreadStore) -> None:
    await make(store, 2)
    first = await store.append("acme", "t1", [blob("a"), blob("b")], max_turns=100)
    second = await store.append("acme", "t1", [blob("c")], max_turns=100)
    assert (first.status, first.seqs, first.version) == ("ok", [3, 4], 2)
    assert (second.seqs, second.version) == ([5], 3)
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.turn_count == 5 and thread.dirty


async def test_idempotency_key_dedupes_and_remembers_the_request(store: ThreadStore) -> None:
    await make(store, 0)
    one = await store.append(
        "acme", "t1", [blob("x")], max_turns=9, idempotency_key="k1", fingerprint="f1"
    )
    again = await store.append(
        "acme", "t1", [blob("x")], max_turns=9, idempotency_key="k1", fingerprint="f1"
    )
    reused = await store.append(
        "acme", "t1", [blob("y")], max_turns=9, idempotency_key="k1", fingerprint="f2"
    )
    assert one.status == "ok" and again.status == "duplicate" and reused.status == "mismatch"
    assert (again.seqs, again.version) == (reused.seqs, reused.version) == (one.seqs, one.version)
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.turn_count == 1


async def test_expected_version_and_turn_limit_refuse_before_writing(store: ThreadStore) -> None:
    await make(store, 2)
    stale = await store.append("acme", "t1", [blob("x")], max_turns=9, expected_version=7)
    full = await store.append("acme", "t1", [blob("x"), blob("y")], max_turns=3)
    assert (stale.status, stale.version) == ("version", 1)
    assert (full.status, full.version) == ("full", 2)
    thread = await store.get("acme", "t1")
    assert thread is not None and (thread.turn_count, thread.version) == (2, 1)
    assert await store.redis.xlen(keys.thread_keys("acme", "t1").turns) == 2


async def test_append_to_a_missing_thread_writes_nothing(store: ThreadStore) -> None:
    result = await store.append("acme", "nope", [blob("x")], max_turns=9)
    assert result.status == "missing"
    assert [k async for k in store.redis.scan_iter(match="tk:{acme:nope}*")] == []
    k = keys.thread_keys("acme", "nope")
    assert await store.redis.zscore(k.activity, k.member) is None
    assert await store.redis.zscore(k.dirty, k.member) is None
    assert await store.redis.zscore(k.listing, "nope") is None


async def test_an_append_moves_its_own_index_entries(store: ThreadStore) -> None:
    await make(store, 1)
    await make(store, 1, "t2")
    created = store.clock()
    one, two = keys.thread_keys("acme", "t1"), keys.thread_keys("acme", "t2")
    assert await store.mark_archived("acme", "t1", 1, created_at=1) == "clean"
    assert await store.redis.zscore(one.dirty, one.member) is None
    store.clock.now += 5_000
    assert (await store.append("acme", "t1", [blob("x")], max_turns=9)).status == "ok"
    assert await store.redis.zscore(one.activity, one.member) == created + 5_000
    assert await store.redis.zscore(one.listing, "t1") == created + 5_000
    assert await store.redis.zscore(one.dirty, one.member) == created + 5_000  # dirty again
    store.clock.now += 5_000
    await store.append("acme", "t1", [blob("y")], max_turns=9)
    assert await store.redis.zscore(one.dirty, one.member) == created + 5_000  # since the first
    assert await store.redis.zscore(two.activity, two.member) == 1  # its updated_at
    assert await store.redis.zscore(two.listing, "t2") == 1
    listed, _ = await store.listing.threads("acme", ThreadQuery(limit=9))
    assert [t.thread.id for t in listed] == ["t1", "t2"]


async def test_an_append_is_one_command_on_a_standalone_redis(redis_server: ManagedRedis) -> None:
    """Its index writes run inside its script: Redis sees one EVALSHA from the client."""
    client = async_client(redis_server.url)
    await client.flushall()
    store = ThreadStore(client, hot_ttl=3600, clock=Clock())
    await make(store, 1)
    await store.append("acme", "t1", [blob("warm")], max_turns=9)  # the script is loaded
    seen: list[tuple[str, str]] = []
    async with client.monitor() as monitor:
        await store.append("acme", "t1", [blob("x")], max_turns=9)
        await client.echo("done")
        while True:
            command = await monitor.next_command()
            if command["command"] == "ECHO done":
                break
            seen.append((command["client_type"], command["command"].split()[0]))
    await client.aclose()
    setup = {"HELLO", "PING", "CLIENT", "SELECT"}  # a new connection's, not the append's
    from_client = [name for kind, name in seen if kind != "lua" and name not in setup]
    assert from_client == ["EVALSHA"], seen
    assert [name for kind, name in seen if kind == "lua"].count("ZADD") == 3


async def test_append_removes_any_ttl_from_the_turns(store: ThreadStore) -> None:
    await make(store, 1)
    k = keys.thread_keys("acme", "t1")
    await store.redis.pexpire(k.turns, 60_000)
    await store.append("acme", "t1", [blob("x")], max_turns=9)
    assert await store.redis.pttl(k.turns) == -1


async def test_concurrent_appends_to_one_thread_lose_nothing(store: ThreadStore) -> None:
    await make(store, 0)
    writers, each = 8, 25

    async def writer(w: int) -> list[int]:
        seqs: list[int] = []
        for i in range(each):
            result = await store.append("acme", "t1", [blob(f"{w}-{i}")], max_turns=10_000)
            seqs += result.seqs
        return seqs

    results = await asyncio.gather(*(writer(w) for w in range(writers)))
    all_seqs = sorted(s for seqs in results for s in seqs)
    assert all_seqs == list(range(1, writers * each + 1))
    read = await store.read("acme", "t1", TurnWindow(limit=1000))
    assert read is not None
    assert sorted(contents(read.turns)) == sorted(f"{w}-{i}" for w in range(8) for i in range(25))


async def test_delete_leaves_a_tombstone_and_clears_indexes(store: ThreadStore) -> None:
    await make(store, 3)
    assert await store.delete("acme", "t1", "deleted") == 1
    tomb = await store.tombstone("acme", "t1")
    assert tomb is not None and tomb.reason.value == "deleted" and tomb.turn_count == 3
    assert await store.get("acme", "t1") is None
    assert await store.redis.zscore(keys.thread_keys("acme", "t1").activity, "acme:t1") is None
    assert await store.delete("acme", "t1", "deleted") is None


async def test_recreating_a_deleted_id_clears_its_tombstone(store: ThreadStore) -> None:
    await make(store, 1)
    await store.delete("acme", "t1", "deleted")
    await make(store, 2)
    assert await store.tombstone("acme", "t1") is None


async def test_listing_is_newest_first_paged_and_per_tenant(store: ThreadStore) -> None:
    for i in range(5):
        thread = new_thread(f"t{i}", at=1000 + i)
        assert await store.create(thread, [])
    await make(store, 1, "other", tenant="zeta")
    first, cursor = await store.listing.threads("acme", ThreadQuery(limit=2))
    assert [x.thread.id for x in first] == ["t4", "t3"] and cursor
    rest, end = await store.listing.threads("acme", ThreadQuery.decode(cursor, 10))
    assert [x.thread.id for x in rest] == ["t2", "t1", "t0"] and end is None


async def test_listing_pages_through_threads_with_equal_timestamps(store: ThreadStore) -> None:
    for i in range(5):
        assert await store.create(new_thread(f"t{i}", at=1000), [])
    seen = await list_all(store, 2)
    assert sorted(seen) == [f"t{i}" for i in range(5)] and len(seen) == 5


async def test_listing_filters_by_tool_and_drops_stale_entries(store: ThreadStore) -> None:
    await make(store, 0, "a")
    await store.redis.zadd(keys.thread_keys("acme", "ghost").listing, {"ghost": 5})
    threads, _ = await store.listing.threads("acme", ThreadQuery(limit=10, tool="chat"))
    assert [x.thread.id for x in threads] == ["a"]
    none, _ = await store.listing.threads("acme", ThreadQuery(limit=10, tool="other"))
    assert none == []
    assert await store.redis.zscore(keys.thread_keys("acme", "ghost").listing, "ghost") is None


async def test_mark_archived_is_compare_and_set(store: ThreadStore) -> None:
    await make(store, 2)
    k = keys.thread_keys("acme", "t1")
    await store.append("acme", "t1", [blob("late")], max_turns=9)  # version 2 now
    assert await store.mark_archived("acme", "t1", 1, created_at=1) == "moved"
    assert await store.redis.pttl(k.turns) == -1  # still dirty: no TTL
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.dirty and thread.archived_version == 1
    assert await store.mark_archived("acme", "t1", 2, created_at=1) == "clean"
    assert 0 < await store.redis.pttl(k.turns) <= 3_600_000
    assert await store.redis.zscore(keys.thread_keys("acme", "t1").dirty, "acme:t1") is None


async def test_restore_puts_turns_back_only_at_the_same_version(store: ThreadStore) -> None:
    await make(store, 3)
    state = await store.all_turns("acme", "t1")
    assert state is not None
    thread, blobs, idem = state
    await store.mark_archived("acme", "t1", thread.version, created_at=thread.created_at)
    await store.redis.delete(keys.thread_keys("acme", "t1").turns)  # the TTL lapsed
    restored = await store.restore(thread, blobs, idem, create_meta=False)
    assert restored.status == "ok"
    again = await store.all_turns("acme", "t1")
    assert again is not None and again[1] == blobs
    assert (await store.restore(thread, blobs, idem, create_meta=False)).status == "present"


async def test_cache_only_mode_puts_the_hot_ttl_on_every_write(redis_url: str) -> None:
    client = async_client(redis_url)
    store = ThreadStore(client, hot_ttl=60, cache_only=True, clock=Clock())
    await make(store, 1)
    k = keys.thread_keys("acme", "t1")
    assert 0 < await client.pttl(k.turns) <= 60_000
    await store.append("acme", "t1", [blob("x")], max_turns=9)
    assert 0 < await client.pttl(k.turns) <= 60_000
    assert await client.zscore(k.dirty, k.member) is None
    await client.aclose()


async def test_writes_reload_their_script_after_redis_forgets_it(store: ThreadStore) -> None:
    """Appends send EVALSHA without SCRIPT EXISTS; a restart or SCRIPT FLUSH means NOSCRIPT."""
    await store.redis.script_flush()
    await make(store, 1)
    await store.redis.script_flush()
    result = await store.append("acme", "t1", [blob("after flush")], max_turns=9)
    assert (result.status, result.seqs) == ("ok", [2])
    read = await store.read("acme", "t1", TurnWindow(limit=10))
    assert read is not None and contents(read.turns) == ["turn 1", "after flush"]


async def test_touch_with_a_never_hot_ttl_keeps_the_turns(redis_url: str) -> None:
    """`THREADKEEPER_HOT_TTL=never` (0 ms): a TTL set before must go, not fire at once."""
    client = async_client(redis_url)
    store = ThreadStore(client, hot_ttl=None, clock=Clock())
    await make(store, 2)
    k = keys.thread_keys("acme", "t1")
    await client.pexpire(k.turns, 60_000)  # clean under an earlier hot TTL
    await store.touch("acme", "t1")
    assert await client.pttl(k.turns) == -1 and await client.xlen(k.turns) == 2
    await client.aclose()


async def test_listing_past_stale_entries_skips_no_live_thread(store: ThreadStore) -> None:
    live = [f"t{i:02d}" for i in range(70)]
    for i, thread_id in enumerate(live):
        assert await store.create(new_thread(thread_id, at=1000 + 2 * i), [])
    ghosts = {f"ghost{i:02d}": 1000 + 2 * i + 1 for i in range(0, 70, 3)}
    for ghost, score in ghosts.items():
        await store.redis.zadd(keys.thread_keys("acme", ghost).listing, {ghost: score})
    seen = await list_all(store, 7)
    assert sorted(seen) == live and len(seen) == len(live)
    listed = [await store.redis.zcard(keys.tenant_index("acme", b)) for b in keys.BUCKETS]
    assert sum(listed) == len(live)  # ghosts dropped
