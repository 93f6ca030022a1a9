"""Work over many threads at once: pick them, run one step per thread, tally the outcomes.

The CLI's bulk commands (`archive`, `rehydrate`, `recover`, `import`) run here,
through the same ThreadService the API uses, so each outcome means the same
everywhere. One thread's failure is recorded with its reason and never stops the
others.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveNotConfigured, ThreadkeeperError, ThreadNotFound
from threadkeeper.models import (
    DEFAULT_TENANT,
    REHYDRATE_ABSENT,
    REHYDRATE_PARTIAL,
    ArchiveStatus,
    now_ms,
)
from threadkeeper.runtime import Runtime
from threadkeeper.wire.decode import check_id

T = TypeVar("T")

# Called with how many more threads are done; the CLI draws a progress bar with it.
Progress = Callable[[int], None]

CONCURRENCY = 8
ALL = 2**31 - 1  # "no limit" for the store's windowed index reads

# Statuses that mean the thread did not end up where it was asked to be.
ARCHIVE_PROBLEMS: frozenset[str] = frozenset({ArchiveStatus.INCOMPLETE, ArchiveStatus.TOO_LARGE})
ARCHIVE_ABSENT: frozenset[str] = frozenset({ArchiveStatus.MISSING})  # no such thread
NOT_FOUND = "not_found"
# Absent ones (the API answers 404 for these too) are problems as well: the exit code.
REHYDRATE_PROBLEMS: frozenset[str] = REHYDRATE_PARTIAL | REHYDRATE_ABSENT


@dataclass(frozen=True, slots=True)
class Ref:
    """One thread named on the command line."""

    tenant: str
    thread_id: str

    @property
    def member(self) -> str:
        return keys.thread_keys(self.tenant, self.thread_id).member


def parse_ref(text: str, tenant: str = DEFAULT_TENANT) -> Ref:
    """`ID` (a thread of `tenant`) or `TENANT:ID`."""
    owner, sep, thread_id = text.rpartition(":")
    return Ref(check_id(owner if sep else tenant, "tenant"), check_id(thread_id))


def from_member(member: str) -> Ref:
    k = keys.from_member(member)
    return Ref(k.tenant, k.thread_id)


@dataclass(slots=True)
class Report:
    """How many threads ended in each status, and which failed, were not found, and why.

    `not_found` holds the threads named that do not exist (a ThreadNotFound, or a
    status in `absent`), apart from the rest so the CLI exits "not found" for them.
    """

    problems: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    counts: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    flagged: list[tuple[str, str]] = field(default_factory=list)
    not_found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, member: str, status: str) -> None:
        self.counts[status] += 1
        if status in self.absent:
            self.not_found.append((member, status))
        elif status in self.problems:
            self.flagged.append((member, status))

    def fail(self, member: str, reason: str) -> None:
        self.counts["failed"] += 1
        self.failed.append((member, reason))

    def missing(self, member: str, reason: str) -> None:
        self.counts[NOT_FOUND] += 1
        self.not_found.append((member, reason))

    @property
    def ok(self) -> bool:
        return not self.failed and not self.flagged and not self.not_found

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "failed": [{"thread": m, "reason": r} for m, r in self.failed],
            "problems": [{"thread": m, "status": s} for m, s in self.flagged],
            "not_found": [{"thread": m, "reason": r} for m, r in self.not_found],
        }


async def for_each(
    items: Sequence[T],
    work: Callable[[T], Awaitable[None]],
    progress: Progress | None = None,
    concurrency: int = CONCURRENCY,
) -> None:
    """Run `work` on every item, `concurrency` at a time, reporting each one done."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # one shared iterator: each item goes to one worker
            await work(item)
            if progress is not None:
                progress(1)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))


async def tally(
    refs: Sequence[Ref],
    step: Callable[[Ref], Awaitable[str]],
    report: Report,
    progress: Progress | None = None,
) -> Report:
    """Run `step` on every thread; its status, or its error, goes into `report`."""

    async def one(ref: Ref) -> None:
        try:
            report.add(ref.member, await step(ref))
        except ThreadNotFound as exc:
            report.missing(ref.member, exc.detail)
        except ThreadkeeperError as exc:
            report.fail(ref.member, exc.detail)

    await for_each(refs, one, progress)
    return report


# -- choosing threads -----------------------------------------------------------


def require_archive(runtime: Runtime, doing: str) -> Archive:
    """The archive, or one clear error before any thread is touched."""
    if runtime.archive is None:
        raise ArchiveNotConfigured.cannot(doing)
    return runtime.archive


async def dirty_threads(runtime: Runtime, *, idle_only: bool) -> list[Ref]:
    """Dirty threads; with `idle_only`, those the sweeper would snapshot now (`--cold`)."""
    store, settings = runtime.store, runtime.settings
    count = await store.indexes.dirty_count()
    if not count:
        return []
    idle_ms = int(settings.snapshot_idle * 1000) if idle_only else 0
    backup_ms = int(settings.backup_interval * 1000) if idle_only else 0
    members = await store.indexes.due_for_snapshot(now_ms() + 1, idle_ms, backup_ms, count)
    return _unique(from_member(m) for m in members)


async def hot_index_threads(runtime: Runtime) -> list[Ref]:
    """Every thread Redis knows of (its metadata), whether or not its turns are in Redis."""
    members = await runtime.store.indexes.idle_since(now_ms() + 1, ALL)
    return _unique(from_member(m) for m in members)


def _unique(refs: Iterable[Ref]) -> list[Ref]:
    return list(dict.fromkeys(refs))


# -- the steps --------------------------------------------------------------------


async def archive_all(
    runtime: Runtime, refs: Sequence[Ref], progress: Progress | None = None
) -> Report:
    """Snapshot each thread now, inline: archived | clean | moved | missing | incomplete."""

    async def step(ref: Ref) -> str:
        return await runtime.service.tiers.archive(ref.tenant, ref.thread_id)

    return await tally(refs, step, Report(ARCHIVE_PROBLEMS, ARCHIVE_ABSENT), progress)


async def rehydrate_all(
    runtime: Runtime, refs: Sequence[Ref], progress: Progress | None = None
) -> Report:
    """Bring each thread's turns back: restored | present | behind | lost | never_archived."""

    async def step(ref: Ref) -> str:
        outcome = await runtime.service.tiers.rehydrate(ref.tenant, ref.thread_id)
        return outcome.status

    return await tally(refs, step, Report(REHYDRATE_PROBLEMS, REHYDRATE_ABSENT), progress)
