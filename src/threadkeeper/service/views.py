"""What the service hands back: a page of a thread as stored, a whole thread, an append,
an import."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from threadkeeper.codec import (
    DEFAULTS,
    JSON_TURN,
    ROLES,
    SEQLESS_TURN,
    SHORT_END,
    TIME_LENGTH,
    deleted_at,
    is_deleted,
    turn_json,
)
from threadkeeper.models import Thread, ThreadState
from threadkeeper.store.paging import TurnWindow


@dataclass(frozen=True, slots=True)
class ThreadRead:
    """One page of a thread, with where it came from and anything missing."""

    thread: Thread
    turns_json: list[bytes]  # each turn's public JSON, as stored
    next: str | None
    source: str  # redis | archive
    state: ThreadState
    missing: tuple[int, int] | None = None
    missing_detail: str | None = None
    deleted: tuple[tuple[int, str], ...] = ()  # (seq, deleted_at) of this page's deleted turns

    @property
    def turns(self) -> list[dict[str, Any]]:
        """The page's turns decoded (the CLI and tests; the API sends `turns_json`)."""
        return [msgspec.json.decode(turn) for turn in self.turns_json]


@dataclass(frozen=True, slots=True)
class Portable:
    """One thread as it travels (export, import): metadata, turns as stored, idempotency
    records (idempotency.py)."""

    thread: Thread
    blobs: list[bytes]
    idempotency: bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    seqs: list[int]
    version: int
    replayed: bool


class ImportOutcome(StrEnum):
    """What importing one whole thread came to (`TierOutcomes.import_whole`).

    A StrEnum: each member equals the word `threadkeeper import` reports for its line.
    """

    IMPORTED = "imported"  # written as new and dirty
    EXISTS = "exists"  # a thread of that id is here already: left as it is
    TOMBSTONED = "tombstoned"  # deleted here (its Redis tombstone stands): not revived


COMPACT_CODES = len(ROLES)


def page_view(
    thread: Thread, turns: list[tuple[int, bytes]], more: bool, page: TurnWindow, source: str
) -> ThreadRead:
    """A page of `turns` (seq, stored bytes) as the API serves it."""
    # Stored bytes are served joined, with what a read puts back around them (codec.turn_json,
    # inline: this runs for every turn); only a turn of the msgpack format is decoded. A
    # deleted turn keeps its seq as a marker: no read, page or context shows it.
    stored = [
        b'{"seq":%d,"role":"%b","content":"%b","created_at":"%b"%b'
        % (seq, ROLES[blob[0]], blob[1:-TIME_LENGTH], blob[-TIME_LENGTH:], DEFAULTS)
        if blob[0] < COMPACT_CODES
        else b'{"seq":%d,%b' % (seq, blob) if blob[0] == SEQLESS_TURN
        else blob[:-1] + DEFAULTS if blob[-2:] == SHORT_END
        else blob if blob[0] == JSON_TURN
        else turn_json(seq, blob)
        for seq, blob in turns
        if not is_deleted(blob)
    ]  # fmt: skip
    cursor = page.next_after(turns[-1][0]).encode() if more and turns else None
    # The console says when each one went; the API's page just leaves them out.
    deleted = () if len(stored) == len(turns) else _deletions(turns)
    # Served from Redis, even if just rehydrated: the source header says where it came from.
    return ThreadRead(thread, stored, cursor, source, ThreadState.HOT, deleted=deleted)


def _deletions(turns: list[tuple[int, bytes]]) -> tuple[tuple[int, str], ...]:
    return tuple((seq, deleted_at(blob)) for seq, blob in turns if is_deleted(blob))
