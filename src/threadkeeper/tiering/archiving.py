"""Hot -> archive: a snapshot of the thread's exact version, verified, then marked.

The turns leave Redis only once the archive holds that version (the compare-and-set
in mark_archived.lua); a snapshot this daemon could not read back is never written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveError, ArchiveObjectExists, SnapshotTooLarge
from threadkeeper.metrics import record_snapshot
from threadkeeper.models import ArchiveStatus, Thread
from threadkeeper.settings import Limits
from threadkeeper.snapshot import Snapshot, check_readable, encode_snapshot
from threadkeeper.store.records import Reply
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering.archive_access import count_failure, log, read_snapshot, require_archive


@dataclass(slots=True)
class Archiver:
    """Snapshot a thread to the archive."""

    store: ThreadStore
    archive: Archive | None
    limits: Limits
    counters: redis.Redis | None = None  # a worker's client: its counts reach /metrics
    _archive_remembered: bool = field(default=False, init=False)

    async def archive_thread(self, tenant: str, thread_id: str) -> ArchiveStatus:
        """Snapshot the thread's current version: archived | clean | moved | missing | incomplete.

        Idempotent: a re-run finds the thread clean, or re-puts identical bytes (which the
        archive accepts) and repeats the compare-and-set.
        """
        archive = require_archive(self.archive)
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
        outcome = ArchiveStatus.ARCHIVED if status == Reply.CLEAN else ArchiveStatus(status)
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

    def _unreadable(self, raw: bytes) -> str | None:
        """Why this daemon could not read `raw` back (it would refuse it as too large), if so."""
        limits = self.limits
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
            snap = await asyncio.to_thread(read_snapshot, archive, key, self.limits)
            held = Thread.from_hash(snap.thread)
        except (ArchiveError, KeyError, ValueError):
            return False
        same = (held.tenant, held.id, held.created_at, held.version, held.turn_count) == (
            thread.tenant, thread.id, thread.created_at, thread.version, thread.turn_count,
        )  # fmt: skip
        return same and snap.turns == blobs

    def _count_snapshot(self, outcome: str) -> None:
        record_snapshot(outcome, self.counters)

    def _count_put_failure(self, exc: ArchiveError) -> None:
        self._count_snapshot("failed")
        count_failure("put", exc, self.counters)

    async def _prune(self, archive: Archive, thread: Thread) -> None:
        """Delete the snapshot this one supersedes (only now that the new one is verified)."""
        older = thread.archived_version
        if 0 < older < thread.version:
            key = keys.snapshot_key(thread.tenant, thread.id, thread.created_at, older)
            await asyncio.to_thread(archive.delete, key)


def _encode(thread: Thread, blobs: list[bytes], idem: bytes) -> bytes:
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
