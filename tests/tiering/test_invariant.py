"""Turns leave Redis only when the archive holds that exact version, whatever goes wrong."""

from __future__ import annotations

import asyncio

import pytest
from tiering_support import (
    AfterPut,
    Backend,
    Clock,
    MakeRuntime,
    append,
    meta,
    new_thread,
    turns_ttl,
)

from threadkeeper import keys, metrics
from threadkeeper.errors import ArchiveUnavailable, SnapshotCorrupt, ThreadNotFound
from threadkeeper.store.paging import TurnWindow
from threadkeeper.tiering.sweeper import InlineDispatch, sweep
from waiting import wait_for_async

pytestmark = pytest.mark.anyio


async def test_a_turn_appended_during_the_snapshot_is_never_lost(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, snapshot_idle=60)
    first = await new_thread(rt, "t1")
    loop = asyncio.get_running_loop()

    def race(key: str) -> None:
        # The snapshot of version 1 is written and verified; before the compare-and-set,
        # a client appends (through the API, say).
        asyncio.run_coroutine_threadsafe(append(rt, "t1", "racing turn"), loop).result(30)

    rt.tiering.archiver.archive = AfterPut(backend.archive, race)
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "moved"
    rt.tiering.archiver.archive = backend.archive

    thread = await meta(rt, "t1")
    assert thread.version == first.version + 1 and thread.turn_count == 4
    assert thread.archived_version == first.version  # the archive holds v1, nothing claims more
    assert thread.dirty and await turns_ttl(rt, "t1") == -1  # dirty: no TTL
    assert await rt.redis.zscore(keys.thread_keys("default", "t1").dirty, "default:t1") is not None

    clock.advance(61)
    dispatch = InlineDispatch(rt.tiering)
    await sweep(rt.store, rt.settings, dispatch)
    assert dispatch.outcomes == {"default:t1": "archived"}
    after = await meta(rt, "t1")
    assert after.archived_version == after.version == thread.version
    assert await turns_ttl(rt, "t1") > 0
    # Only the newest snapshot is kept, and it holds the racing turn.
    [name] = backend.snapshots("t1")
    assert keys.snapshot_version(name) == (first.created_at, thread.version)
    snap = await rt.tiering.restorer.load("default", "t1", first.created_at, thread.version)
    assert len(snap.turns) == 4


async def test_unreachable_archive_keeps_threads_hot_then_archiving_resumes(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, snapshot_idle=1)
    thread = await new_thread(rt, "t1")
    clock.advance(5)
    failures = metrics.SHARED.value("archive_failures", "put")

    backend.cut()
    with pytest.raises(ArchiveUnavailable) as failed:
        await sweep(rt.store, rt.settings, InlineDispatch(rt.tiering))
    assert "1 of 1 threads failed" in failed.value.detail
    assert metrics.SHARED.value("archive_failures", "put") == failures + 1
    still = await meta(rt, "t1")
    assert still.dirty and still.archived_version == 0
    assert await turns_ttl(rt, "t1") == -1
    page = await rt.service.read("default", "t1", TurnWindow(limit=10))
    assert len(page.turns) == thread.turn_count

    backend.restore()
    dispatch = InlineDispatch(rt.tiering)
    await sweep(rt.store, rt.settings, dispatch)
    assert dispatch.outcomes == {"default:t1": "archived"}
    assert not (await meta(rt, "t1")).dirty
    assert len(backend.snapshots("t1")) == 1


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
async def test_a_damaged_snapshot_is_refused_and_redis_is_left_alone(
    make_runtime: MakeRuntime, backend: Backend, damage: str
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "archived"
    [name] = backend.snapshots("t1")
    raw = backend.archive.get(name, 1 << 20)
    bad = raw[: len(raw) // 2] if damage == "truncated" else raw[:-1] + bytes([raw[-1] ^ 1])
    backend.archive.delete(name)
    backend.archive.put_if_absent(name, bad)
    k = keys.thread_keys("default", "t1")
    await rt.redis.delete(k.turns, k.idempotency)  # evicted
    before = await rt.redis.hgetall(k.meta)

    with pytest.raises(SnapshotCorrupt) as refused:
        await rt.tiering.restorer.rehydrate("default", "t1")
    assert name in refused.value.detail and "failed verification" in refused.value.detail
    assert await rt.redis.hgetall(k.meta) == before
    assert not await rt.redis.exists(k.turns, k.idempotency)


async def test_a_damaged_snapshot_never_touches_a_hot_copy(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    await rt.tiering.archiver.archive_thread("default", "t1")
    [name] = backend.snapshots("t1")
    backend.archive.delete(name)
    backend.archive.put_if_absent(name, b"TKSNAP garbage")
    k = keys.thread_keys("default", "t1")
    turns = await rt.redis.xrange(k.turns)
    assert (await rt.tiering.restorer.rehydrate("default", "t1")).status == "present"
    assert await rt.redis.xrange(k.turns) == turns


async def test_workers_down_longer_than_the_hot_ttl_lose_nothing(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive, real_clock=True, hot_ttl=1)
    for i in range(3):
        await new_thread(rt, f"dirty{i}")
    await new_thread(rt, "clean")
    await rt.tiering.archiver.archive_thread("default", "clean")
    assert 0 < await turns_ttl(rt, "clean") <= 1000

    async def lapsed() -> bool:
        return not await rt.store.turns_exist("default", "clean")

    await wait_for_async(lapsed, "the clean thread's hot TTL to lapse")
    for i in range(3):  # ...while no dirty thread carries a TTL at all
        assert await turns_ttl(rt, f"dirty{i}") == -1
        page = await rt.service.read("default", f"dirty{i}", TurnWindow(limit=10))
        assert [t["content"] for t in page.turns] == ["turn 1", "turn 2", "turn 3"]
    page = await rt.service.read("default", "clean", TurnWindow(limit=10))
    assert page.source == "archive" and len(page.turns) == 3


async def test_retention_deletes_both_tiers_and_says_so(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, retention=86400, snapshot_idle=60)
    await new_thread(rt, "old")
    await rt.tiering.archiver.archive_thread("default", "old")
    clock.advance(86400 - 10)
    await new_thread(rt, "recent")
    clock.advance(61)
    dispatch = InlineDispatch(rt.tiering)

    await sweep(rt.store, rt.settings, dispatch)

    assert dispatch.outcomes["default:old"] == "deleted"
    assert dispatch.outcomes["default:recent"] == "archived"  # idle, not expired
    assert backend.snapshots("old") == []
    assert list(backend.archive.list_keys(keys.tombstone_prefix("default", "old")))
    with pytest.raises(ThreadNotFound) as gone:
        await rt.service.read("default", "old", TurnWindow(limit=10))
    assert gone.value.extra["reason"] == "retention" and gone.value.extra["deleted_at"]
    assert (await meta(rt, "recent")).turn_count == 3
    rerun = await rt.tiering.remover.apply_retention("default", "old")
    assert rerun == "deleted"  # a re-run is fine


async def test_retention_spares_a_thread_touched_since_it_was_picked(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, retention=3600)
    await new_thread(rt, "t1")
    clock.advance(3601)
    await append(rt, "t1", "back again")  # after the sweep picked it, before the job ran
    assert await rt.tiering.remover.apply_retention("default", "t1") == "kept"
    assert (await meta(rt, "t1")).turn_count == 4


async def test_turns_past_the_archived_version_are_reported_missing_not_papered_over(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1", turns=2)
    await rt.tiering.archiver.archive_thread("default", "t1")
    await append(rt, "t1", "only in redis")
    k = keys.thread_keys("default", "t1")
    await rt.redis.delete(k.turns)  # lost: Redis restarted without persistence, say

    outcome = await rt.tiering.restorer.rehydrate("default", "t1")

    assert outcome.status == "behind" and outcome.missing == (3, 3)
    assert len(outcome.turns) == 2
    assert not await rt.redis.exists(k.turns)  # nothing partial was put back
