"""Removal from both tiers: a deletion's archive purge, and retention.

Redis is the store of record for a deletion: its tombstone is written first, and
the archive purge is owed in Redis until the archive takes it (the sweeper retries).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveError, StoreFull
from threadkeeper.models import GoneReason
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering.archive_access import count_failure, log
from threadkeeper.tiering.records import RetentionOutcome


@dataclass(slots=True)
class Remover:
    """Purge deleted threads from the archive; delete threads idle past the retention."""

    store: ThreadStore
    archive: Archive | None
    retention: float | None  # seconds idle; None keeps threads for ever
    counters: redis.Redis | None = None  # a worker's client: its counts reach /metrics

    async def purge(self, tenant: str, thread_id: str, reason: GoneReason, at: int) -> None:
        """Purge a thread deleted at `at` from the archive, owed in Redis until it succeeds.

        A failure is counted and raised; the sweeper retries what is owed every tick.
        """
        if self.archive is None:
            return
        try:
            await self.store.indexes.owe_purge(tenant, thread_id, reason.value, at)
        except StoreFull:
            log.warning(
                "Redis is at maxmemory: the archive purge of deleted thread %s:%s is not "
                "remembered as owed; purging the archive now", tenant, thread_id,
            )  # fmt: skip
        try:
            await self.purge_archive(tenant, thread_id, reason, at)
        except ArchiveError as exc:
            count_failure("purge", exc, self.counters)
            raise
        await self.store.indexes.purge_done(tenant, thread_id, reason.value, at)

    async def purge_archive(self, tenant: str, thread_id: str, reason: GoneReason, at: int) -> None:
        """Leave a tombstone in the archive, then delete the deleted thread's snapshots.

        Idempotent. Only snapshots of a thread created by `at` go: a thread re-created
        under the same id later (another created_at) keeps its own.
        """
        if self.archive is None:
            return
        archive = self.archive
        body = json.dumps({"reason": reason.value, "at": at}).encode()
        tomb_key = keys.tombstone_object(tenant, thread_id, at)
        await asyncio.to_thread(archive.put_if_absent, tomb_key, body)
        live = await self.store.get(tenant, thread_id)
        prefix = keys.snapshot_prefix(tenant, thread_id)
        names = await asyncio.to_thread(lambda: list(archive.list_keys(prefix)))
        for name in names:
            found = keys.snapshot_version(name)
            if found is None or found[0] > at or (live and found[0] == live.created_at):
                continue
            await asyncio.to_thread(archive.delete, name)

    async def apply_retention(self, tenant: str, thread_id: str) -> RetentionOutcome:
        """Delete a thread idle past the retention from both tiers: deleted | kept | missing.

        Re-checks idleness against the thread itself (the index is only a hint) and
        deletes only the version it judged; a re-run after a failed archive purge
        finishes the purge.
        """
        retention = self.retention
        if retention is None:
            return RetentionOutcome.KEPT
        thread = await self.store.get(tenant, thread_id)
        if thread is None:
            return await self._finish_retention(tenant, thread_id)
        idle_since = max(thread.touched_at or 0, thread.updated_at)
        if self.store.clock() - idle_since < retention * 1000:
            return RetentionOutcome.KEPT
        reason = GoneReason.RETENTION.value
        if await self.store.delete(tenant, thread_id, reason, thread.version) is None:
            return RetentionOutcome.KEPT  # touched or deleted meanwhile
        return await self._finish_retention(tenant, thread_id)

    async def _finish_retention(self, tenant: str, thread_id: str) -> RetentionOutcome:
        tomb = await self.store.tombstone(tenant, thread_id)
        if tomb is None or tomb.reason is not GoneReason.RETENTION:
            return RetentionOutcome.MISSING
        await self.purge(tenant, thread_id, GoneReason.RETENTION, tomb.at)
        return RetentionOutcome.DELETED
