"""The sweeper picks the right threads, hands them out in batches, and records its heartbeat."""

from __future__ import annotations

import pytest
from tiering_support import Backend, Clock, MakeRuntime, append, meta, new_thread

from threadkeeper import keys
from threadkeeper.tiering.sweeper import MAX_BACKLOG, InlineDispatch, sweep

pytestmark = pytest.mark.anyio


class Recorder:
    """A Dispatch that only remembers what it was handed."""

    def __init__(self, backlog: int = 0) -> None:
        self.pending = backlog
        self.archive_batches: list[list[str]] = []
        self.retention_batches: list[list[str]] = []

    async def backlog(self) -> int:
        return self.pending

    async def archive(self, batch_id: str, members: list[str]) -> None:
        self.archive_batches.append(members)

    async def retention(self, batch_id: str, members: list[str]) -> None:
        self.retention_batches.append(members)

    @property
    def archived(self) -> set[str]:
        return {m for batch in self.archive_batches for m in batch}


async def test_picks_idle_and_overdue_dirty_threads_not_fresh_or_clean(
    make_runtime: MakeRuntime, local_backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(local_backend.archive, snapshot_idle=60, backup_interval=300)
    await new_thread(rt, "idle")  # written once, then silent
    await new_thread(rt, "busy")  # written every 30 s: never idle, dirty all along
    await new_thread(rt, "clean")
    await rt.tiering.archiver.archive_thread("default", "clean")
    for _ in range(11):  # 330 s: past the backup interval
        clock.advance(30)
        await append(rt, "busy", "more")
    await new_thread(rt, "fresh")  # dirty, but only just written

    recorder = Recorder()
    report = await sweep(rt.store, rt.settings, recorder)

    assert recorder.archived == {"default:idle", "default:busy"}
    assert report.due == 2 and report.dirty == 3
    beat = await rt.redis.hgetall(keys.SWEEPER_HEARTBEAT)
    assert int(beat[b"last_run"]) == clock.now
    assert int(beat[b"lag_ms"]) == 330_000  # now minus the oldest dirty_since


async def test_a_busy_thread_inside_the_backup_interval_waits(
    make_runtime: MakeRuntime, local_backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(local_backend.archive, snapshot_idle=60, backup_interval=300)
    await new_thread(rt, "busy")
    for _ in range(5):  # 150 s of activity: neither idle nor overdue
        clock.advance(30)
        await append(rt, "busy", "more")
    recorder = Recorder()
    report = await sweep(rt.store, rt.settings, recorder)
    assert recorder.archived == set()
    assert (report.due, report.dirty, report.lag_ms) == (0, 1, 150_000)  # seen, and left
    for _ in range(6):  # 330 s of activity: now overdue
        clock.advance(30)
        await append(rt, "busy", "more")
    await sweep(rt.store, rt.settings, recorder)
    assert recorder.archived == {"default:busy"}


async def test_batches_hold_at_most_sweep_batch_threads(
    make_runtime: MakeRuntime, local_backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(local_backend.archive, snapshot_idle=1, sweep_batch=3)
    for i in range(7):
        await new_thread(rt, f"t{i}", turns=1)
    clock.advance(5)
    recorder = Recorder()
    await sweep(rt.store, rt.settings, recorder)
    assert [len(b) for b in recorder.archive_batches] == [3, 3, 1]
    assert len(recorder.archived) == 7


async def test_a_backed_up_queue_holds_snapshots_back_but_still_beats(
    make_runtime: MakeRuntime, local_backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(local_backend.archive, snapshot_idle=1)
    await new_thread(rt, "t1")
    clock.advance(5)
    recorder = Recorder(backlog=MAX_BACKLOG)
    report = await sweep(rt.store, rt.settings, recorder)
    assert recorder.archive_batches == [] and report.held_back
    assert int((await rt.redis.hgetall(keys.SWEEPER_HEARTBEAT))[b"last_run"]) == clock.now


async def test_inline_sweep_archives_what_is_due(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive, snapshot_idle=60)
    thread = await new_thread(rt, "t1")
    await sweep(rt.store, rt.settings, InlineDispatch(rt.tiering))
    assert (await meta(rt, "t1")).dirty  # not idle yet
    clock.advance(61)
    dispatch = InlineDispatch(rt.tiering)
    await sweep(rt.store, rt.settings, dispatch)
    assert dispatch.outcomes == {"default:t1": "archived"}
    after = await meta(rt, "t1")
    assert not after.dirty and after.archived_version == thread.version
    assert len(backend.snapshots("t1")) == 1
    assert await rt.store.indexes.dirty_count() == 0
