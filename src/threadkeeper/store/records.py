"""What the hot tier answers: the Lua scripts' reply statuses, and the records built
from their replies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from threadkeeper.codec import as_text
from threadkeeper.errors import StoreError
from threadkeeper.models import Thread, ThreadState


class Reply(StrEnum):
    """The first word of a Lua script's reply (store/lua/*.lua), and of an append's answer.

    A StrEnum: each member equals the word the script returns.
    """

    OK = "ok"
    MISSING = "missing"  # no such thread in Redis
    ARCHIVED = "archived"  # its turns are only in the archive: rehydrate first
    VERSION = "version"  # the expected version is not the current one
    FULL = "full"  # THREADKEEPER_MAX_TURNS reached
    DUPLICATE = "duplicate"  # this Idempotency-Key and body were stored before
    MISMATCH = "mismatch"  # this Idempotency-Key came before with another body
    RESENT = "resent"  # a keyless append resent by redis-py: stored the first time
    LEGACY = "legacy"  # an older version's idempotency record answered
    REPLAY = "replay"  # a create resent with the same create key
    EXISTS = "exists"
    CLEAN = "clean"  # archived: the snapshot holds this version
    MOVED = "moved"  # written since the version judged
    PRESENT = "present"
    BEHIND = "behind"
    TOMBSTONED = "tombstoned"
    NO_TURN = "no_turn"
    SAME = "same"
    CHANGED = "changed"
    ORPHAN_TURNS = "orphan_turns"


STORED = (Reply.OK, Reply.DUPLICATE, Reply.MISMATCH)  # appends whose turns are in Redis


@dataclass(frozen=True, slots=True)
class Appended:
    status: Reply  # ok | duplicate | mismatch | missing | archived | version | full
    seqs: list[int]
    version: int


@dataclass(frozen=True, slots=True)
class Read:
    """One page of a thread as Redis holds it."""

    thread: Thread
    turns: list[tuple[int, bytes]]
    more: bool
    turns_in_redis: bool  # False once the stream has gone (TTL lapsed or lost)


@dataclass(frozen=True, slots=True)
class Listed:
    """A thread in a listing, with its tier and its place in the index."""

    thread: Thread
    state: ThreadState
    score: int


@dataclass(frozen=True, slots=True)
class Restored:
    status: Reply  # ok | present | behind | missing | tombstoned
    version: int = 0
    turn_count: int = 0


def reply_of(result: Any) -> Reply:
    """The status word of a script's reply (a list, or the bare word)."""
    word = as_text(result[0] if isinstance(result, list) else result)
    try:
        return Reply(word)
    except ValueError:
        raise StoreError(f"unexpected answer from a Lua script: {word}") from None


def appended_from(result: list[Any], fingerprint: str) -> Appended:
    """The append script's reply as an Appended (resent and legacy answers resolved)."""
    status = reply_of(result)
    if status in STORED:
        first, last, version = (int(v) for v in result[1:4])
        return Appended(status, list(range(first, last + 1)), version)
    if status is Reply.RESENT:  # the first attempt stored it: answer as it would have
        first_s, last_s, version_s = as_text(result[1]).split(":")
        return Appended(Reply.OK, list(range(int(first_s), int(last_s) + 1)), int(version_s))
    if status is Reply.LEGACY:  # an older version's record: first:last:version:fingerprint
        first_s, last_s, version_s, stored = as_text(result[1]).split(":", 3)
        seqs = list(range(int(first_s), int(last_s) + 1))
        same = stored == fingerprint
        return Appended(Reply.DUPLICATE if same else Reply.MISMATCH, seqs, int(version_s))
    if status in (Reply.VERSION, Reply.FULL):
        return Appended(status, [], int(result[1]))
    if status in (Reply.MISSING, Reply.ARCHIVED):
        return Appended(status, [], 0)
    raise StoreError(f"unexpected answer from the append script: {status}")
