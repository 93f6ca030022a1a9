"""Archive -> hot: a thread's turns brought back, or rebuilt from the archive alone.

Rehydration puts an evicted thread's turns back; recovery rebuilds a thread whose
metadata Redis lost, from its newest snapshot, and re-creates the Redis tombstone
of one the archive says was deleted. When nothing holds some turns, the outcome
says exactly which.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveError, ArchiveObjectMissing, SnapshotCorrupt, StoreFull
from threadkeeper.metrics import record_rehydration
from threadkeeper.models import GoneReason, RehydrateStatus, Thread
from threadkeeper.settings import Limits
from threadkeeper.snapshot import Snapshot
from threadkeeper.store.canary import RestartLossProbe
from threadkeeper.store.records import Reply
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering.archive_access import count_failure, log, read_snapshot, require_archive
from threadkeeper.tiering.records import ArchiveTombstone, Held, Rehydrated


@dataclass(slots=True)
class Restorer:
    """Rehydrate and recover threads from the archive, and read its tombstones."""

    store: ThreadStore
    archive: Archive | None
    limits: Limits
    counters: redis.Redis | None = None  # a worker's client: its counts reach /metrics
    restart_loss: RestartLossProbe | None = None  # marks what a loss may have cut short

    async def load(self, tenant: str, thread_id: str, created_at: int, version: int) -> Snapshot:
        archive = require_archive(self.archive)
        key = keys.snapshot_key(tenant, thread_id, created_at, version)
        try:
            snap = await asyncio.to_thread(read_snapshot, archive, key, self.limits)
        except SnapshotCorrupt as exc:
            count_failure("verify", exc, self.counters)
            raise _named(exc, archive.url, key, thread_id) from exc
        except ArchiveObjectMissing:
            raise
        except ArchiveError as exc:
            count_failure("get", exc, self.counters)
            raise
        thread = Thread.from_hash(snap.thread)
        if (thread.tenant, thread.id, thread.version) != (tenant, thread_id, version):
            raise SnapshotCorrupt(
                f"snapshot {archive.url}/{key} holds {thread.tenant}/{thread.id} "
                f"version {thread.version}, not what its name says",
                thread_id=thread_id,
            )
        return snap

    async def rehydrate(self, tenant: str, thread_id: str) -> Rehydrated:
        """Bring an evicted thread's turns back, or say exactly which turns nothing holds."""
        outcome = await self._rehydrate(tenant, thread_id)
        if outcome.status != RehydrateStatus.PRESENT:
            record_rehydration(outcome.status)
        return outcome

    async def _rehydrate(self, tenant: str, thread_id: str) -> Rehydrated:
        thread = await self.store.get(tenant, thread_id)
        if thread is None:
            try:
                return await self.recover_thread(tenant, thread_id)
            except StoreFull as exc:
                raise _no_room(thread_id) from exc
        if thread.turn_count == 0 or await self.store.turns_exist(tenant, thread_id):
            return Rehydrated(RehydrateStatus.PRESENT, thread)
        if thread.archived_version == 0 or self.archive is None:
            return Rehydrated(RehydrateStatus.LOST, thread, missing=(1, thread.turn_count))
        try:
            snap = await self.load(tenant, thread_id, thread.created_at, thread.archived_version)
        except ArchiveObjectMissing:
            found = await self._unmarked_snapshot(thread)
            if found is None:
                return Rehydrated(RehydrateStatus.LOST, thread, missing=(1, thread.turn_count))
            snap = found
        # The snapshot's own version, so the script refuses it when the thread moved past it.
        archived = Thread.from_hash(snap.thread)
        try:
            result = await self.store.restore(
                archived, snap.turns, snap.idempotency, create_meta=False
            )
        except StoreFull as exc:
            raise _no_room(thread_id) from exc
        if result.status == Reply.BEHIND:
            held = len(snap.turns)
            return Rehydrated(
                RehydrateStatus.BEHIND, thread, snap.turns, (held + 1, thread.turn_count)
            )
        return Rehydrated(_restored(result.status), thread)

    async def _unmarked_snapshot(self, thread: Thread) -> Snapshot | None:
        """The newest snapshot past `archived_version`, when that one is gone.

        The older snapshot is pruned right after the compare-and-set; if Redis then loses
        the set (a crash under `appendfsync everysec`), it points at the pruned object
        while a newer one of this same thread holds the turns.
        """
        archive = require_archive(self.archive)
        prefix = keys.snapshot_prefix(thread.tenant, thread.id)
        names = await asyncio.to_thread(lambda: list(archive.list_keys(prefix)))
        found = [v for v in map(keys.snapshot_version, names) if v is not None]
        newer = [version for created_at, version in found if created_at == thread.created_at
                 and thread.archived_version < version <= thread.version]  # fmt: skip
        if not newer:
            return None
        log.warning(
            "thread %s:%s: snapshot of version %d is gone; using version %d instead",
            thread.tenant, thread.id, thread.archived_version, max(newer),
        )  # fmt: skip
        return await self.load(thread.tenant, thread.id, thread.created_at, max(newer))

    async def as_recovered(self, thread: Thread) -> Thread:
        """A thread about to be rebuilt from its snapshot, marked if that predates a loss.

        Redis lost its data at `lost_at`: whatever was written between the snapshot and
        then may be gone, and nothing else can tell. The mark is kept in the metadata, so
        later reads, snapshots, exports and recoveries carry it.
        """
        if self.restart_loss is None:
            return thread
        loss = await self.restart_loss(thread.tenant, thread.id)
        return thread if loss is None else thread.with_gap(loss.at)

    async def recover_thread(
        self, tenant: str, thread_id: str, held: Held | None = None
    ) -> Rehydrated:
        """Rebuild one thread whose metadata Redis no longer has, from its newest snapshot.

        The one rule for a thread the archive says was deleted (its newest tombstone at
        or after that snapshot's `updated_at`, or no snapshot left): its Redis tombstone
        is re-created, so later lookups answer "deleted" from Redis, even while the
        archive is down. `held` is what a scan of the archive found (`recover`); a
        lookup leaves it out and the archive is asked.
        """
        if self.archive is None:
            return Rehydrated(RehydrateStatus.NEVER_ARCHIVED)
        present = await self.store.get(tenant, thread_id)
        if present is not None:
            return Rehydrated(RehydrateStatus.PRESENT, present)
        if await self.store.tombstone(tenant, thread_id) is not None:
            # Deleted here (its archive purge may still be owed): the restore would refuse
            # it anyway, and this answers without the archive, even while it is down.
            return Rehydrated(RehydrateStatus.TOMBSTONED)
        held = held if held is not None else await self._held(tenant, thread_id)
        tomb = await self.archive_tombstone(tenant, thread_id) if held.tombstoned else None
        if held.snapshot is None:
            if tomb is None:
                return Rehydrated(RehydrateStatus.NEVER_ARCHIVED)
            return await self._bury(tenant, thread_id, tomb, None)
        snap = await self.load(tenant, thread_id, *held.snapshot)
        thread = await self.as_recovered(Thread.from_hash(snap.thread))
        if tomb is not None and tomb.at >= thread.updated_at:
            return await self._bury(tenant, thread_id, tomb, thread)
        result = await self.store.restore(
            thread, snap.turns, snap.idempotency, create_meta=True, ttl=True
        )
        if result.status == Reply.TOMBSTONED:
            # Deleted here, its archive purge still owed: no thread to show.
            return Rehydrated(RehydrateStatus.TOMBSTONED)
        return Rehydrated(_restored(result.status), thread)

    async def _held(self, tenant: str, thread_id: str) -> Held:
        """What the archive holds of one thread, asked of the archive itself."""
        archive = require_archive(self.archive)
        snapshots, tombstones = await asyncio.to_thread(
            lambda: (
                list(archive.list_keys(keys.snapshot_prefix(tenant, thread_id))),
                list(archive.list_keys(keys.tombstone_prefix(tenant, thread_id))),
            )
        )
        versions = sorted(v for v in map(keys.snapshot_version, snapshots) if v is not None)
        return Held(versions[-1] if versions else None, bool(tombstones))

    async def archive_tombstone(self, tenant: str, thread_id: str) -> ArchiveTombstone | None:
        """The newest tombstone the archive holds of a thread (None without an archive)."""
        if self.archive is None:
            return None
        archive = self.archive
        prefix = keys.tombstone_prefix(tenant, thread_id)
        names = await asyncio.to_thread(lambda: sorted(archive.list_keys(prefix)))
        if not names:
            return None
        raw = await asyncio.to_thread(archive.get, names[-1], 4096)
        data = json.loads(raw)
        return ArchiveTombstone(GoneReason(data["reason"]), int(data["at"]), 0)

    async def _bury(
        self, tenant: str, thread_id: str, tomb: ArchiveTombstone, thread: Thread | None
    ) -> Rehydrated:
        """Re-create the Redis tombstone of a thread the archive says was deleted."""
        fields = {"reason": tomb.reason.value, "at": tomb.at,
                  "version": thread.version if thread else tomb.version,
                  "turn_count": thread.turn_count if thread else 0}  # fmt: skip
        status = await self.store.bury(tenant, thread_id, fields)
        return Rehydrated(RehydrateStatus(status))


def _restored(status: str) -> RehydrateStatus:
    """The restore script's answer, as a rehydration's."""
    return RehydrateStatus.RESTORED if status == Reply.OK else RehydrateStatus(status)


def _no_room(thread_id: str) -> StoreFull:
    return StoreFull(
        f"thread {thread_id!r} is held only in the archive, and Redis is at maxmemory: its "
        "turns cannot be brought back to serve this (nothing was changed; nothing is lost). "
        "Free memory (delete threads, `threadkeeper archive --cold`) or raise Redis "
        "maxmemory, then retry",
        thread_id=thread_id,
    )


def _named(exc: SnapshotCorrupt, url: str, key: str, thread_id: str) -> SnapshotCorrupt:
    """The same corruption, saying which snapshot and that Redis was left as it was."""
    return type(exc)(
        f"snapshot {url}/{key} of thread {thread_id!r} failed verification: {exc.detail}. "
        "Nothing was restored and Redis was left untouched; restore the object from a "
        "backup of the archive, or fork the thread from what remains",
        thread_id=thread_id,
        key=key,
        archive=url,
        **{k: v for k, v in exc.extra.items() if k not in ("thread_id", "key", "archive")},
    )
