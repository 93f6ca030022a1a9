"""Rebuild Redis from the archive alone, after total loss (`threadkeeper recover`).

Every thread in the archive comes back from its newest snapshot (newest by
`(created_at, version)`, so a re-created id's snapshots win over the old ones):
metadata, turns, dedupe records and the indexes. A thread whose newest archive
tombstone is at or after that snapshot's `updated_at` was deleted (by request or
by retention) and stays deleted: its Redis tombstone is recreated so lookups
still say when and why. Threads already in Redis are left alone, so running it
again is harmless.

One window it cannot close: a deletion writes its archive tombstone (then drops the
snapshots) only when the archive takes it. If the archive was down at the deletion,
the purge is owed in Redis (`keys.purge_index`) and the sweeper retries it every
tick; should Redis be lost entirely before one retry succeeds, nothing remembers the
deletion, and `recover` brings that thread back from its snapshots: delete it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.bulk.operations import Progress, Ref, Report, require_archive, tally
from threadkeeper.models import RehydrateStatus
from threadkeeper.runtime import Runtime
from threadkeeper.store import losses
from threadkeeper.tiering import Held

RECOVER_PROBLEMS = frozenset({RehydrateStatus.BEHIND, RehydrateStatus.MISSING})


@dataclass(frozen=True, slots=True)
class ArchivedThread:
    """One thread the archive holds something of, and what."""

    ref: Ref
    held: Held


async def scan_archive(archive: Archive) -> list[ArchivedThread]:
    """Every thread with a snapshot or a tombstone in the archive, in (tenant, id) order."""
    snapshot_names, tombstone_names = await asyncio.to_thread(
        lambda: (list(archive.list_keys(keys.SNAPSHOTS)), list(archive.list_keys(keys.TOMBSTONES)))
    )
    newest: dict[Ref, tuple[int, int]] = {}
    for name in snapshot_names:
        found = _snapshot_of(name)
        if found is not None and found[1] > newest.get(found[0], (-1, -1)):
            newest[found[0]] = found[1]
    buried = {Ref(*parsed[:2]) for parsed in map(keys.parse_object_key, tombstone_names) if parsed}
    refs = sorted(newest.keys() | buried, key=lambda r: (r.tenant, r.thread_id))
    return [ArchivedThread(r, Held(newest.get(r), r in buried)) for r in refs]


def _snapshot_of(name: str) -> tuple[Ref, tuple[int, int]] | None:
    parsed = keys.parse_object_key(name)
    version = keys.snapshot_version(name)
    if parsed is None or version is None:
        return None  # not one of ours (a stray upload, a temp file): skip it
    return Ref(parsed[0], parsed[1]), version


async def recover(runtime: Runtime, progress: Progress | None = None) -> Report:
    """Restore every archived thread Redis lacks: restored | present | tombstoned, or failed.

    With no thread failed, the data losses recorded before it started are settled:
    health stops failing for them (losses.py)."""
    archive = require_archive(runtime, "recover")
    before = await losses.unsettled_losses(runtime.redis)
    found = await scan_archive(archive)
    by_ref = {item.ref: item for item in found}

    async def step(ref: Ref) -> str:
        return await _recover_one(runtime, by_ref[ref])

    report = await tally([item.ref for item in found], step, Report(RECOVER_PROBLEMS), progress)
    if before and not report.failed:
        await losses.settle(runtime.redis, before, losses.RECOVERED)
    return report


async def count_archived(runtime: Runtime) -> int:
    """How many threads `recover` will look at (for a progress bar's length)."""
    return len(await scan_archive(require_archive(runtime, "recover")))


async def _recover_one(runtime: Runtime, item: ArchivedThread) -> str:
    """One thread the scan found: restored | present | tombstoned | behind | missing."""
    return await runtime.service.tiers.recover(item.ref.tenant, item.ref.thread_id, item.held)
