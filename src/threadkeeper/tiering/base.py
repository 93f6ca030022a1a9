"""What every part of the tiering shares: the clients, the archive, the outcomes.

Tiering (threadkeeper.tiering) is made of the parts that move a thread: archiving
(hot -> archive), restoring (archive -> hot, and recovery from the archive alone)
and removal (purges and retention), each a class over this base.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveError, ArchiveNotConfigured
from threadkeeper.metrics import record_archive_failure, record_snapshot
from threadkeeper.models import (
    REHYDRATE_ABSENT,
    REHYDRATE_PARTIAL,
    GoneReason,
    RehydrateStatus,
    Thread,
)
from threadkeeper.settings import Settings
from threadkeeper.snapshot import Snapshot, decode_snapshot
from threadkeeper.store.canary import RestartLossProbe
from threadkeeper.store.thread_store import ThreadStore

log = logging.getLogger("threadkeeper.tiering")


@dataclass(frozen=True, slots=True)
class Rehydrated:
    """The outcome of bringing a thread's turns back from the archive."""

    status: RehydrateStatus
    thread: Thread | None = None
    turns: list[bytes] = field(default_factory=list)  # what the archive holds, when behind
    missing: tuple[int, int] | None = None  # first and last seq that nothing holds

    @property
    def absent(self) -> bool:
        """Nothing of the thread is here: never archived, or deleted (a 404)."""
        return self.status in REHYDRATE_ABSENT

    @property
    def partial(self) -> bool:
        """The thread is here, but some of its turns are held nowhere (`missing`)."""
        return self.status in REHYDRATE_PARTIAL


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


class TierBase:
    """The clients and settings every part of the tiering works with."""

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
            raise ArchiveNotConfigured.cannot("archive threads or read archived ones")
        return self.archive

    def _count_snapshot(self, outcome: str) -> None:
        record_snapshot(outcome, self.counters)

    def _count_failure(self, operation: str, exc: ArchiveError) -> None:
        log.warning("archive %s failed: %s", operation, exc.detail)
        record_archive_failure(operation, self.counters)

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
