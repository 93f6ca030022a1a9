"""The archive as every part of the tiering reaches it: required when a caller needs it,
its snapshots read within the limits, its failures logged and counted the same way."""

from __future__ import annotations

import logging

import redis

from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveError, ArchiveNotConfigured
from threadkeeper.metrics import record_archive_failure
from threadkeeper.settings import Limits
from threadkeeper.snapshot import Snapshot, decode_snapshot

log = logging.getLogger("threadkeeper.tiering")


def require_archive(archive: Archive | None) -> Archive:
    """The archive, or the cache-only daemon's refusal to do what needs one."""
    if archive is None:
        raise ArchiveNotConfigured.cannot("archive threads or read archived ones")
    return archive


def read_snapshot(archive: Archive, key: str, limits: Limits) -> Snapshot:
    """Read and decode one snapshot; blocking and heavy, so it runs in a thread."""
    return decode_snapshot(
        archive.get(key, limits.max_snapshot_bytes),
        max_bytes=limits.max_snapshot_bytes,
        max_turns=limits.max_turns,
        max_raw_bytes=limits.max_snapshot_raw_bytes,
        max_ratio=limits.max_snapshot_ratio,
    )


def count_failure(operation: str, exc: ArchiveError, counters: redis.Redis | None) -> None:
    """Log and count a failed archive call; `counters` is a worker's client (see Tiering)."""
    log.warning("archive %s failed: %s", operation, exc.detail)
    record_archive_failure(operation, counters)
