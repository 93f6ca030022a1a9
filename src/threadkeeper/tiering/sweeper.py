"""The sweeper: find the threads that need snapshotting or deleting, and hand them out.

One sweep reads the dirty and activity indexes (O(log n) windows), hands due threads
out in batches (RQ job overhead is per job, so many threads per job), and records a
heartbeat: when it ran and its lag (now minus the oldest dirty_since), which the
health report and /metrics read. It never archives or deletes by itself: a `Dispatch`
does, either RQ (`queue.QueueDispatch`) or inline (`InlineDispatch`, for tests and the
CLI). The indexes are hints; each job re-checks its thread before acting.

The one thing a sweep does itself, given the tiering: retry the archive purges owed
by deletions the archive refused (it was down). They are rare and each is a few
archive calls, and Redis alone remembers them, so every tick tries until they land.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from threadkeeper import keys
from threadkeeper.errors import ArchiveUnavailable, ThreadkeeperError
from threadkeeper.models import GoneReason
from threadkeeper.settings import Settings
from threadkeeper.store.connection import redis_errors
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering import Tiering
from threadkeeper.tiering.removal import Remover

log = logging.getLogger(__name__)

MAX_BATCHES = 10  # per kind per sweep; the next sweep takes the rest
MAX_BACKLOG = 20  # pending jobs past which a sweep adds no archive batches
CONCURRENCY = 8  # threads of one batch in flight at once (archive calls run in threads)
PURGED = "purged"  # an owed archive purge done (else "failed: <why>")


class Dispatch(Protocol):
    """Where a sweep sends its batches."""

    async def backlog(self) -> int: ...

    async def archive(self, batch_id: str, members: list[str]) -> None: ...

    async def retention(self, batch_id: str, members: list[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class SweepReport:
    at: int
    due: int  # threads handed out for a snapshot
    expired: int  # threads handed out for retention
    batches: int
    backlog: int
    held_back: bool  # archive batches skipped because the queue is backed up
    dirty: int
    lag_ms: int
    purged: int = 0  # owed archive purges done this sweep
    purges_owed: int = 0  # still owed after it (the archive is down, say)


async def sweep(
    store: ThreadStore, settings: Settings, dispatch: Dispatch, *, tiering: Tiering | None = None
) -> SweepReport:
    """One pass: owed purges, retention (no point snapshotting what is about to go), snapshots."""
    await store.indexes.adopt_legacy()
    purges = {} if tiering is None else await retry_purges(tiering.remover, settings.sweep_batch)
    now = store.clock()
    limit = settings.sweep_batch * MAX_BATCHES
    expired = await _expired(store, settings, now, limit)
    due = [m for m in await _due(store, settings, now, limit) if m not in set(expired)]
    backlog = await dispatch.backlog()
    held_back = bool(due) and backlog >= MAX_BACKLOG
    batches = 0
    for number, members in enumerate(_chunks(expired, settings.sweep_batch)):
        await dispatch.retention(f"retention-{now}-{number}", members)
        batches += 1
    if not held_back:
        for number, members in enumerate(_chunks(due, settings.sweep_batch)):
            await dispatch.archive(f"archive-{now}-{number}", members)
            batches += 1
    else:
        log.warning("%d jobs pending: holding back %d snapshots this sweep", backlog, len(due))
    report = await _report(store, now, len(due), len(expired), batches, backlog, held_back)
    done = sum(outcome == PURGED for outcome in purges.values())
    report = replace(report, purged=done, purges_owed=await store.indexes.owed_purge_count())
    await record_heartbeat(store, report)
    return report


async def retry_purges(remover: Remover, limit: int) -> dict[str, str]:
    """Retry the oldest owed archive purges: purged | failed: ..., per `tenant:id:at`.

    Stops at an unreachable archive (the rest would only wait out the same timeouts);
    the next sweep tries again.
    """
    outcomes: dict[str, str] = {}
    for tenant, thread_id, reason, at in await remover.store.indexes.owed_purges(limit):
        name = f"{tenant}:{thread_id}:{at}"
        try:
            await remover.purge(tenant, thread_id, GoneReason(reason), at)
        except ThreadkeeperError as exc:
            outcomes[name] = f"failed: {exc.title}"
            if isinstance(exc, ArchiveUnavailable):
                break
            continue
        outcomes[name] = PURGED
    return outcomes


async def _due(store: ThreadStore, settings: Settings, now: int, limit: int) -> list[str]:
    idle_ms = int(settings.snapshot_idle * 1000)
    backup_ms = int(settings.backup_interval * 1000)
    return await store.indexes.due_for_snapshot(now, idle_ms, backup_ms, limit)


async def _expired(store: ThreadStore, settings: Settings, now: int, limit: int) -> list[str]:
    if settings.retention is None:
        return []
    return await store.indexes.idle_since(now - int(settings.retention * 1000), limit)


async def _report(
    store: ThreadStore, now: int, due: int, expired: int, batches: int, backlog: int,
    held_back: bool,
) -> SweepReport:  # fmt: skip
    oldest = await store.indexes.oldest_dirty()
    dirty = await store.indexes.dirty_count()
    lag = max(0, now - oldest) if oldest is not None else 0
    return SweepReport(now, due, expired, batches, backlog, held_back, dirty, lag)


async def record_heartbeat(store: ThreadStore, report: SweepReport) -> None:
    """The fields health and /metrics read: `last_run` (ms) and `lag_ms`, plus counts."""
    fields = {
        "last_run": report.at,
        "lag_ms": report.lag_ms,
        "dirty": report.dirty,
        "due": report.due,
        "expired": report.expired,
        "batches": report.batches,
        "backlog": report.backlog,
        "held_back": int(report.held_back),
        "purges_owed": report.purges_owed,
    }
    with redis_errors():
        await store.redis.hset(keys.SWEEPER_HEARTBEAT, mapping=fields)


def _chunks(members: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(members), size):
        yield members[start : start + size]


Step = Callable[[str, str], Awaitable[str]]


async def run_batch(step: Step, members: list[str]) -> dict[str, str]:
    """`step(tenant, id)` for each member, CONCURRENCY at a time; raise if any failed.

    One thread's failure never stops the others; the first error is re-raised after
    all ran (its message counts the failures), so RQ retries the batch, which is
    idempotent: the threads already done are no-ops the second time.
    """
    gate = asyncio.Semaphore(CONCURRENCY)
    failures: list[ThreadkeeperError] = []

    async def one(member: str) -> str:
        k = keys.from_member(member)
        async with gate:
            try:
                return await step(k.tenant, k.thread_id)
            except ThreadkeeperError as exc:
                log.warning("thread %s: %s", member, exc.detail)
                failures.append(exc)
                return f"failed: {exc.title}"

    outcomes = await asyncio.gather(*(one(m) for m in members))
    if failures:
        first = failures[0]
        detail = f"{len(failures)} of {len(members)} threads failed; first: {first.detail}"
        raise type(first)(detail, **first.extra) from first
    return dict(zip(members, outcomes, strict=True))


class InlineDispatch:
    """Run each batch at once in this process: for tests and `threadkeeper` commands."""

    def __init__(self, tiering: Tiering) -> None:
        self.tiering = tiering
        self.outcomes: dict[str, str] = {}

    async def backlog(self) -> int:
        return 0

    async def archive(self, batch_id: str, members: list[str]) -> None:
        self.outcomes |= await run_batch(self.tiering.archiver.archive_thread, members)

    async def retention(self, batch_id: str, members: list[str]) -> None:
        self.outcomes |= await run_batch(self.tiering.remover.apply_retention, members)
