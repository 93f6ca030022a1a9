"""What the tiering hands back: a rehydration's outcome, what the archive holds of a
thread, its tombstone there, and what retention came to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from threadkeeper.models import (
    REHYDRATE_ABSENT,
    REHYDRATE_PARTIAL,
    GoneReason,
    RehydrateStatus,
    Thread,
)


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


class RetentionOutcome(StrEnum):
    """What applying the retention to one thread came to (`Remover.apply_retention`).

    A StrEnum: each member equals the word a retention batch reports.
    """

    DELETED = "deleted"  # idle past the retention: gone from both tiers
    KEPT = "kept"  # no retention, not idle long enough, or touched meanwhile
    MISSING = "missing"  # no such thread, or deleted by request meanwhile
