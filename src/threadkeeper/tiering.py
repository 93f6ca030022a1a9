"""Moving threads between the hot tier and the archive, without ever losing a turn.

The invariant: a thread's turns leave Redis only when the archive holds that exact
version (snapshot written, verified, then compare-and-set in Lua), or when it is
deleted by request or by retention.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.canary import RestartLossProbe
from threadkeeper.errors import (
    ArchiveError,
    ArchiveNotConfigured,
    ArchiveObjectExists,
    ArchiveObjectMissing,
    SnapshotCorrupt,
    SnapshotTooLarge,
    StoreFull,
)
from threadkeeper.metrics import record_archive_failure, record_rehydration, record_snapshot
from threadkeeper.models import ArchiveStatus, GoneReason, RehydrateStatus, Thread
from threadkeeper.settings import Settings
from threadkeeper.snapshot import Snapshot, check_readable, decode_snapshot, encode_snapshot
from threadkeeper.store import ThreadStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rehydrated:
    """The outcome of bringing a thread's turns back from the archive."""

    status: RehydrateStatus
    thread: Thread | None = None
    turns: list[bytes] = field(default_factory=list)  # what the archive holds, when behind
    missing: tuple[int, int] | None = None  # first and last seq that nothing holds


@dataclass(frozen=True, slots=True)
class Held:
    """What the archive holds of one thread: its newest snapshot, whether it has tombstones."""

    snapshot: tuple[int, int] | None  # (created_at, version)
    tombstoned: bool


@dataclass(frozen=True, slots=True)
class ArchiveTombstone:
    reason: GoneReason
    at: int
    version: int


class Tiering:
    """Snapshot, rehydrate, delete from both tiers, and recover from the archive alone."""

    def __init__(
        self,
        store: ThreadStore,
        archive: Archive | None,
        settings: Settings,
        *,
        counters: redis.Redis | None = None,
        restart_loss: RestartLossProbe | None = None,
    ) -> None:
        self.store = store
        self.archive = archive
        self.settings = settings
        self.restart_loss = restart_loss
        # A worker hands in its sync client so its counters reach the API's /metrics.
        self.counters = counters
        self._archive_remembered = False

    def require_archive(self) -> Archive:
        if self.archive is None:
            raise ArchiveNotConfigured(
                "this daemon runs cache-only (THREADKEEPER_ARCHIVE_URL is empty): "
                "set it to s3://bucket/prefix or file:///dir to archive threads"
            )
        return self.archive

    # -- hot -> archive --------------------------------------------------------

    async def archive_thread(self, tenant: str, thread_id: str) -> ArchiveStatus:
        """Snapshot the thread's current version: archived | clean | moved | missing | incomplete.

        Idempotent: a re-run finds the thread clean, or re-puts identical bytes (which the
        archive accepts) and repeats the compare-and-set.
        """
        archive = self.require_archive()
        current = await self.store.get(tenant, thread_id)
        if current is None:
            return ArchiveStatus.MISSING
        if not current.dirty:
            return await self._settle_clean(current)
        state = await self.store.all_turns(tenant, thread_id)
        if state is None:
            return ArchiveStatus.MISSING
        thread, blobs, idem = state
        if not thread.dirty:
            return await self._settle_clean(thread)
        if len(blobs) != thread.turn_count:
            self._count_snapshot("incomplete")
            return ArchiveStatus.INCOMPLETE  # turns lost from Redis: never archive a partial thread
        raw = _encode(thread, blobs, idem)
        problem = self._unreadable(raw)
        if problem:
            return self._too_large(thread, problem)
        await self._put(archive, thread, raw, blobs)
        if not self._archive_remembered:  # once per process: the record never changes
            await self.store.remember_archive(archive.url)
            self._archive_remembered = True
        status = await self.store.mark_archived(
            tenant, thread_id, thread.version, created_at=thread.created_at
        )
        await self._prune(archive, thread)
        outcome = ArchiveStatus.ARCHIVED if status == "clean" else ArchiveStatus(status)
        self._count_snapshot(outcome)
        return outcome

    async def _settle_clean(self, thread: Thread) -> ArchiveStatus:
        """A clean thread the sweeper still saw as dirty: repeat the compare-and-set.

        That clears a stale dirty-index entry (a worker killed between the script and
        the index update) and gives the turns the hot TTL, which the archive allows
        because it holds this exact version; a write meanwhile makes it a no-op.
        """
        await self.store.mark_archived(
            thread.tenant, thread.id, thread.version, created_at=thread.created_at
        )
        return ArchiveStatus.CLEAN

    def _count_snapshot(self, outcome: str) -> None:
        record_snapshot(outcome, self.counters)

    def _count_failure(self, operation: str, exc: ArchiveError) -> None:
        log.warning("archive %s failed: %s", operation, exc.detail)
        record_archive_failure(operation, self.counters)

    def _unreadable(self, raw: bytes) -> str | None:
        """Why this daemon could not read `raw` back (it would refuse it as too large), if so."""
        limits = self.settings.limits
        if len(raw) > limits.max_snapshot_bytes:
            return (
                f"makes a {len(raw)}-byte snapshot, over the {limits.max_snapshot_bytes} bytes "
                "a snapshot may be read back (THREADKEEPER_MAX_SNAPSHOT_BYTES)"
            )
        try:
            check_readable(
                raw,
                max_raw_bytes=limits.max_snapshot_raw_bytes,
                max_ratio=limits.max_snapshot_ratio,
            )
        except SnapshotTooLarge as exc:
            return exc.detail
        return None

    def _too_large(self, thread: Thread, problem: str) -> ArchiveStatus:
        """Refuse a snapshot that could not be read back: the thread stays hot and dirty."""
        log.error(
            "thread %s:%s (version %d) %s: not archived, it stays in Redis with no TTL. "
            "Raise the limit (for every process), or fork the thread and continue in the fork",
            thread.tenant, thread.id, thread.version, problem,
        )  # fmt: skip
        self._count_snapshot("too_large")
        return ArchiveStatus.TOO_LARGE

    async def _put(self, archive: Archive, thread: Thread, raw: bytes, blobs: list[bytes]) -> None:
        key = keys.snapshot_key(thread.tenant, thread.id, thread.created_at, thread.version)
        try:
            await asyncio.to_thread(archive.put_if_absent, key, raw)
        except ArchiveObjectExists as exc:
            if not await self._holds_version(archive, key, thread, blobs):
                self._count_put_failure(exc)
                raise
        except ArchiveError as exc:
            self._count_put_failure(exc)
            raise

    async def _holds_version(
        self, archive: Archive, key: str, thread: Thread, blobs: list[bytes]
    ) -> bool:
        """Whether the object already at `key` is this very version, in other bytes.

        A snapshot written by a worker killed before its compare-and-set, say, under an
        older encoding: what defines the version matches, so it can be marked archived.
        """
        try:
            snap = await asyncio.to_thread(self._fetch, archive, key)
            held = Thread.from_hash(snap.thread)
        except (ArchiveError, KeyError, ValueError):
            return False
        same = (held.tenant, held.id, held.created_at, held.version, held.turn_count) == (
            thread.tenant, thread.id, thread.created_at, thread.version, thread.turn_count,
        )  # fmt: skip
        return same and snap.turns == blobs

    def _count_put_failure(self, exc: ArchiveError) -> None:
        self._count_snapshot("failed")
        self._count_failure("put", exc)

    async def _prune(self, archive: Archive, thread: Thread) -> None:
        """Delete the snapshot this one supersedes (only now that the new one is verified)."""
        older = thread.archived_version
        if 0 < older < thread.version:
            key = keys.snapshot_key(thread.tenant, thread.id, thread.created_at, older)
            await asyncio.to_thread(archive.delete, key)

    # -- archive -> hot --------------------------------------------------------

    async def load(self, tenant: str, thread_id: str, created_at: int, version: int) -> Snapshot:
        archive = self.require_archive()
        key = keys.snapshot_key(tenant, thread_id, created_at, version)
        try:
            snap = await asyncio.to_thread(self._fetch, archive, key)
        except SnapshotCorrupt as exc:
            self._count_failure("verify", exc)
            raise _named(exc, archive.url, key, thread_id) from exc
        except ArchiveObjectMissing:
            raise
        except ArchiveError as exc:
            self._count_failure("get", exc)
            raise
        thread = Thread.from_hash(snap.thread)
        if (thread.tenant, thread.id, thread.version) != (tenant, thread_id, version):
            raise SnapshotCorrupt(
                f"snapshot {archive.url}/{key} holds {thread.tenant}/{thread.id} "
                f"version {thread.version}, not what its name says",
                thread_id=thread_id,
            )
        return snap

    def _fetch(self, archive: Archive, key: str) -> Snapshot:
        """Read and decode one snapshot; blocking and heavy, so it runs in a thread."""
        limits = self.settings.limits
        return decode_snapshot(
            archive.get(key, limits.max_snapshot_bytes),
            max_bytes=limits.max_snapshot_bytes,
            max_turns=limits.max_turns,
            max_raw_bytes=limits.max_snapshot_raw_bytes,
            max_ratio=limits.max_snapshot_ratio,
        )

    async def rehydrate(self, tenant: str, thread_id: str) -> Rehydrated:
        """Bring an evicted thread's turns back, or say exactly which turns nothing holds."""
        outcome = await self._rehydrate(tenant, thread_id)
        if outcome.status != "present":
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
        if result.status == "behind":
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
        archive = self.require_archive()
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
        if result.status == "tombstoned":
            # Deleted here, its archive purge still owed: no thread to show.
            return Rehydrated(RehydrateStatus.TOMBSTONED)
        return Rehydrated(_restored(result.status), thread)

    async def _held(self, tenant: str, thread_id: str) -> Held:
        """What the archive holds of one thread, asked of the archive itself."""
        archive = self.require_archive()
        snapshots, tombstones = await asyncio.to_thread(
            lambda: (
                list(archive.list_keys(keys.snapshot_prefix(tenant, thread_id))),
                list(archive.list_keys(keys.tombstone_prefix(tenant, thread_id))),
            )
        )
        versions = sorted(v for v in map(keys.snapshot_version, snapshots) if v is not None)
        return Held(versions[-1] if versions else None, bool(tombstones))

    async def _bury(
        self, tenant: str, thread_id: str, tomb: ArchiveTombstone, thread: Thread | None
    ) -> Rehydrated:
        """Re-create the Redis tombstone of a thread the archive says was deleted."""
        fields = {"reason": tomb.reason.value, "at": tomb.at,
                  "version": thread.version if thread else tomb.version,
                  "turn_count": thread.turn_count if thread else 0}  # fmt: skip
        status = await self.store.bury(tenant, thread_id, fields)
        return Rehydrated(RehydrateStatus(status))

    # -- removal ---------------------------------------------------------------

    async def purge(self, tenant: str, thread_id: str, reason: GoneReason, at: int) -> None:
        """Purge a thread deleted at `at` from the archive, owed in Redis until it succeeds.

        A failure is counted and raised; the sweeper retries what is owed every tick.
        """
        if self.archive is None:
            return
        try:
            await self.store.owe_purge(tenant, thread_id, reason.value, at)
        except StoreFull:
            log.warning(
                "Redis is at maxmemory: the archive purge of deleted thread %s:%s is not "
                "remembered as owed; purging the archive now", tenant, thread_id,
            )  # fmt: skip
        try:
            await self.purge_archive(tenant, thread_id, reason, at)
        except ArchiveError as exc:
            self._count_failure("purge", exc)
            raise
        await self.store.purge_done(tenant, thread_id, reason.value, at)

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

    async def apply_retention(self, tenant: str, thread_id: str) -> str:
        """Delete a thread idle past the retention from both tiers: deleted | kept | missing.

        Re-checks idleness against the thread itself (the index is only a hint) and
        deletes only the version it judged; a re-run after a failed archive purge
        finishes the purge.
        """
        retention = self.settings.retention
        if retention is None:
            return "kept"
        thread = await self.store.get(tenant, thread_id)
        if thread is None:
            return await self._finish_retention(tenant, thread_id)
        idle_since = max(thread.touched_at or 0, thread.updated_at)
        if self.store.clock() - idle_since < retention * 1000:
            return "kept"
        reason = GoneReason.RETENTION.value
        if await self.store.delete(tenant, thread_id, reason, thread.version) is None:
            return "kept"  # touched or deleted meanwhile
        return await self._finish_retention(tenant, thread_id)

    async def _finish_retention(self, tenant: str, thread_id: str) -> str:
        tomb = await self.store.tombstone(tenant, thread_id)
        if tomb is None or tomb.reason is not GoneReason.RETENTION:
            return "missing"
        await self.purge(tenant, thread_id, GoneReason.RETENTION, tomb.at)
        return "deleted"

    async def archive_tombstone(self, tenant: str, thread_id: str) -> ArchiveTombstone | None:
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


def _restored(status: str) -> RehydrateStatus:
    """The restore script's answer, as a rehydration's."""
    return RehydrateStatus.RESTORED if status == "ok" else RehydrateStatus(status)


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


def _encode(thread: Thread, blobs: list[bytes], idem: dict[str, bytes]) -> bytes:
    return encode_snapshot(Snapshot(dict(_as_archived(thread).to_hash()), blobs, idem))


def _as_archived(thread: Thread) -> Thread:
    """The thread as its own snapshot records it: clean at this version.

    Only what defines the version goes in: a read's `touched_at` does not, so the
    snapshot of one version is the same bytes however often it is read meanwhile.
    """
    fields = thread.to_hash()
    fields["archived_version"] = thread.version
    fields["dirty_since"] = ""
    fields["touched_at"] = thread.updated_at
    return Thread.from_hash({k: str(v) for k, v in fields.items()})
