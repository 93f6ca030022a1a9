"""Records: a thread's metadata, its states, and the time format on the wire."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, get_args

DEFAULT_TENANT = "default"
_EPOCH = date(1970, 1, 1)
_HOUR_MINUTE = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECOND = [f"{s:02d}." for s in range(60)]
_MILLI = [f"{ms:03d}Z" for ms in range(1000)]


# A turn's role. A Literal, not an enum, so the API's schema lists the roles inline. A
# compact stored turn's first byte is its role's index here (codec.ROLES): add at the end.
Role = Literal["user", "assistant", "system", "tool"]
ROLES: tuple[Role, ...] = get_args(Role)
Order = Literal["asc", "desc"]  # of a page of turns: oldest first, or newest first
ORDERS: tuple[Order, ...] = get_args(Order)


class ThreadState(StrEnum):
    HOT = "hot"  # turns are in Redis
    ARCHIVED = "archived"  # turns are only in the archive


class ArchiveStatus(StrEnum):
    """What archiving one thread came to."""

    ARCHIVED = "archived"  # a verified snapshot of its current version
    CLEAN = "clean"  # already archived at this version
    MOVED = "moved"  # written to while snapshotted: archived again later
    MISSING = "missing"  # no such thread (deleted or re-created meanwhile)
    INCOMPLETE = "incomplete"  # turns lost from Redis: a partial thread is never archived
    TOO_LARGE = "too_large"  # over THREADKEEPER_MAX_SNAPSHOT_BYTES


class RehydrateStatus(StrEnum):
    """What bringing one thread's turns back came to."""

    RESTORED = "restored"
    PRESENT = "present"  # its turns were in Redis already
    BEHIND = "behind"  # the archive holds fewer turns than the thread had
    LOST = "lost"  # neither Redis nor the archive holds its turns
    NEVER_ARCHIVED = "never_archived"  # nothing in the archive (or no archive)
    TOMBSTONED = "tombstoned"  # deleted here; its archive purge may still be owed
    MISSING = "missing"  # the thread went while it was being restored


# Nothing of the thread is here: never archived, or deleted (the API answers 404).
REHYDRATE_ABSENT = frozenset({RehydrateStatus.NEVER_ARCHIVED, RehydrateStatus.TOMBSTONED})
# The thread is here, but some of its turns are held neither in Redis nor in the archive.
REHYDRATE_PARTIAL = frozenset({RehydrateStatus.BEHIND, RehydrateStatus.LOST})


class GoneReason(StrEnum):
    NEVER_STORED = "never_stored"
    DELETED = "deleted"
    RETENTION = "retention"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    if type(ms) is not int:  # a float from an old snapshot: the general path
        stamp = datetime.fromtimestamp(ms / 1000, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # Every turn of a read is formatted, so this is hot (5x faster than datetime, and
    # exact where ms / 1000 loses precision): the date comes from a cache, as a thread's
    # turns share few days, and the time of day from tables.
    days, of_day = divmod(ms, 86_400_000)
    minute, rest = divmod(of_day, 60_000)
    second, milli = divmod(rest, 1000)
    return _utc_date(days) + _HOUR_MINUTE[minute] + _SECOND[second] + _MILLI[milli]


@functools.lru_cache(maxsize=4096)
def _utc_date(days: int) -> str:
    """The UTC date `days` after the epoch, as YYYY-MM-DD."""
    try:
        return (_EPOCH + timedelta(days=days)).isoformat()
    except OverflowError:
        raise ValueError(f"{days} days after 1970-01-01 is out of range") from None


def parse_rfc3339(text: str) -> int:
    """RFC 3339 / ISO 8601 to epoch milliseconds; naive times are UTC."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def _int(value: bytes | str | None) -> int | None:
    return None if value is None or value in (b"", "") else int(value)


def _str(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread's metadata, as kept in its Redis hash and in its snapshots."""

    id: str
    tenant: str
    created_at: int
    updated_at: int
    title: str | None
    tool: str | None
    metadata: dict[str, Any]
    parent_id: str | None
    fork_seq: int | None
    turn_count: int
    byte_count: int
    version: int
    archived_version: int
    archived_at: int | None
    dirty_since: int | None
    touched_at: int | None = None
    # Restored from a snapshot older than a detected loss of Redis's data: turns
    # written after seq `gap_after` and before `gap_until` (ms) may be missing.
    gap_after: int | None = None
    gap_until: int | None = None
    user_id: str | None = None  # the thread's owner inside its tenant (None: the tenant's)

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> Thread:
        h = {_str(k): v for k, v in raw.items()}
        return cls(
            id=_str(h["id"]) or "",
            tenant=_str(h["tenant"]) or "",
            created_at=_int(h["created_at"]) or 0,
            updated_at=_int(h["updated_at"]) or 0,
            title=_str(h.get("title")) or None,
            tool=_str(h.get("tool")) or None,
            metadata=json.loads(_str(h.get("metadata")) or "{}"),
            parent_id=_str(h.get("parent_id")) or None,
            fork_seq=_int(h.get("fork_seq")),
            turn_count=_int(h.get("turn_count")) or 0,
            byte_count=_int(h.get("bytes")) or 0,
            version=_int(h.get("version")) or 0,
            archived_version=_int(h.get("archived_version")) or 0,
            archived_at=_int(h.get("archived_at")),
            dirty_since=_int(h.get("dirty_since")),
            touched_at=_int(h.get("touched_at")),
            gap_after=_int(h.get("gap_after")),
            gap_until=_int(h.get("gap_until")),
            user_id=_str(h.get("user_id")) or None,
        )

    def to_hash(self) -> dict[str, str | int]:
        """The Redis hash form: every field present, absent values as '' (the gap only if any)."""
        fields: dict[str, str | int] = {
            "id": self.id,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "title": self.title or "",
            "tool": self.tool or "",
            "metadata": json.dumps(self.metadata, separators=(",", ":")),
            "parent_id": self.parent_id or "",
            "fork_seq": "" if self.fork_seq is None else self.fork_seq,
            "turn_count": self.turn_count,
            "bytes": self.byte_count,
            "version": self.version,
            "archived_version": self.archived_version,
            "archived_at": "" if self.archived_at is None else self.archived_at,
            "dirty_since": "" if self.dirty_since is None else self.dirty_since,
            "touched_at": self.touched_at or self.updated_at,
        }
        if self.gap_after is not None and self.gap_until is not None:
            fields |= {"gap_after": self.gap_after, "gap_until": self.gap_until}
        if self.user_id is not None:  # absent, not '': older snapshots and hashes read alike
            fields["user_id"] = self.user_id
        return fields

    @property
    def dirty(self) -> bool:
        return self.version > self.archived_version

    def with_gap(self, lost_at: int) -> Thread:
        """This thread marked as restored from before a loss at `lost_at` (a first mark stays)."""
        if self.gap_after is not None or self.updated_at >= lost_at:
            return self
        return replace(self, gap_after=self.turn_count, gap_until=lost_at)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a tenant, and inside it one user, or (user_id None) the whole tenant.

    Every surface resolves its credentials to one Caller and hands it down; a user
    caller sees only the threads it owns, as if no other thread existed.
    """

    tenant: str
    user_id: str | None = None

    @property
    def tenant_wide(self) -> bool:
        return self.user_id is None

    def sees(self, owner: str | None) -> bool:
        """True for a thread owned by `owner` (None: the tenant's own, no user's)."""
        return self.user_id is None or owner == self.user_id


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of a thread that was removed on purpose."""

    reason: GoneReason
    at: int
    version: int
    turn_count: int

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> Tombstone:
        h = {_str(k): v for k, v in raw.items()}
        return cls(
            reason=GoneReason(_str(h["reason"]) or ""),
            at=_int(h["at"]) or 0,
            version=_int(h.get("version")) or 0,
            turn_count=_int(h.get("turn_count")) or 0,
        )
