"""Threads as JSONL in the API's shapes (`threadkeeper export` / `threadkeeper import`).

One line per thread, what `GET /v1/threads/{id}` answers when every turn is on one
page (RFC 3339 times, metadata as objects, nulls):

    {"thread": {...the thread as the API shows it...},
     "turns": [{...each turn as the API shows it...}],
     "idempotency": "<base64 of the thread's idempotency records>"}

`idempotency` (this store's records of Idempotency-Keys already used, so a client's
retry after the move still appends nothing twice: 24-byte records, idempotency.py)
is optional: a line built from the API's own answers, or from another store, leaves
it out. Lines exported by older versions hold a map {"<key>": "first:last:version:
fingerprint"} instead; import reads both.

Import checks every line before anything is written: a bad line is refused with
its number and nothing is imported. Then each thread is written whole in one step,
so none is half-imported. Turns are stored as encoded from their API shape, so a
round trip serves the same thread and turns, byte for byte, except what describes
this machine's archive: the thread arrives dirty (`state` hot, `archived_version`
0, `archived_at` null) and is archived here by the sweeper.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from threadkeeper import idempotency
from threadkeeper.codec import encode_turn, turn_json
from threadkeeper.errors import InvalidInput
from threadkeeper.models import Thread, ThreadState, now_ms, parse_rfc3339
from threadkeeper.runtime import Runtime
from threadkeeper.service.views import ImportOutcome, Portable
from threadkeeper.settings import Limits
from threadkeeper.wire.decode import check_id, check_metadata, turn_from_dict
from threadkeeper.wire.shapes import MAX_LABEL
from threadkeeper.wire.threads import thread_info

LINE_FIELDS = frozenset({"thread", "turns", "idempotency"})
THREAD_REQUIRED = ("id", "tenant", "created_at", "updated_at", "version", "turn_count")
# Served by the API, and describing this store rather than the thread: not imported.
THREAD_LOCAL = frozenset({"state", "bytes", "archived_version", "archived_at"})
THREAD_FIELDS = frozenset(THREAD_REQUIRED) | THREAD_LOCAL | {
    "title", "tool", "metadata", "parent_id", "fork_seq", "possibly_missing", "user_id",
}  # fmt: skip

_encode = msgspec.json.Encoder().encode


# -- export ---------------------------------------------------------------------


async def read_portable(runtime: Runtime, tenant: str, thread_id: str) -> Portable:
    """The whole thread, rehydrating it first if its turns are only in the archive."""
    return await runtime.service.tiers.whole(tenant, thread_id)


def export_line(item: Portable) -> str:
    """The thread and all its turns as the API serves them, plus its dedupe records."""
    thread = _encode(thread_info(item.thread, ThreadState.HOT))
    turns = b",".join(turn_json(seq, blob) for seq, blob in enumerate(item.blobs, start=1))
    idem = base64.b64encode(item.idempotency)
    return (b'{"thread":%b,"turns":[%b],"idempotency":"%b"}' % (thread, turns, idem)).decode()


# -- import: validate ------------------------------------------------------------


def parse_line(text: str, line: int, limits: Limits) -> Portable:
    """Check one line completely; any problem is an InvalidInput naming the line."""
    try:
        return _parse(text, limits)
    except InvalidInput as exc:
        raise InvalidInput(f"line {line}: {exc.detail}", line=line, **exc.extra) from exc


def _parse(text: str, limits: Limits) -> Portable:
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict) or not {"thread", "turns"} <= set(record) <= LINE_FIELDS:
        raise InvalidInput(
            'expected {"thread": {...}, "turns": [...]} as the API serves a thread, '
            'optionally with "idempotency": {...}'
        )
    blobs = _parse_turns(record["turns"], limits)
    thread = _parse_thread(record["thread"], limits, sum(map(len, blobs)))
    if thread.turn_count != len(blobs):
        raise InvalidInput(
            f"thread says turn_count {thread.turn_count}, the line holds {len(blobs)} turns "
            "(a single page of a longer thread? export it with `threadkeeper export`)"
        )
    return Portable(thread, blobs, _parse_idempotency(record.get("idempotency", ""), thread))


def _parse_thread(raw: object, limits: Limits, byte_count: int) -> Thread:
    if not isinstance(raw, dict) or any(name not in raw for name in THREAD_REQUIRED):
        raise InvalidInput(f"thread must be an object with at least {', '.join(THREAD_REQUIRED)}")
    unknown = sorted(set(raw) - THREAD_FIELDS)
    if unknown:
        raise InvalidInput(f"thread has fields threadkeeper does not know: {', '.join(unknown)}")
    check_id(raw["id"])
    check_id(raw["tenant"], "tenant")
    user_id = raw.get("user_id")
    if user_id is not None:
        check_id(user_id, "thread.user_id")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput("thread.metadata must be a JSON object")
    check_metadata(metadata, limits, "thread.metadata")
    for name in ("title", "tool", "parent_id"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_LABEL):
            raise InvalidInput(f"thread.{name} must be null or a string of at most {MAX_LABEL}")
    now = now_ms()
    thread = Thread(
        id=raw["id"], tenant=raw["tenant"], created_at=_time(raw, "created_at"),
        updated_at=_time(raw, "updated_at"), title=raw.get("title"), tool=raw.get("tool"),
        metadata=metadata, parent_id=raw.get("parent_id"),
        fork_seq=_whole(raw, "fork_seq", optional=True), turn_count=_whole(raw, "turn_count"),
        byte_count=byte_count, version=_whole(raw, "version"), archived_version=0,
        archived_at=None, dirty_since=now, touched_at=now, user_id=user_id, **_gap(raw),
    )  # fmt: skip
    if thread.version < 1 or thread.created_at < 1 or thread.updated_at < thread.created_at:
        raise InvalidInput("thread version, created_at or updated_at is out of range")
    return thread


def _gap(raw: dict[str, Any]) -> dict[str, int]:
    """`possibly_missing` (turns a Redis data loss may have taken) travels with the thread."""
    gap = raw.get("possibly_missing")
    if gap is None:
        return {}
    if not isinstance(gap, dict):
        raise InvalidInput("thread.possibly_missing must be null or an object")
    where = "thread.possibly_missing"
    return {"gap_after": _whole(gap, "after_seq"), "gap_until": _time(gap, "lost_at", where)}


def _time(raw: dict[str, Any], name: str, where: str = "thread") -> int:
    value = raw.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidInput(
            f"{where}.{name} is {value!r}: write an RFC 3339 time, e.g. 2026-11-22T03:58:16.512Z"
        ) from None


def _whole(raw: dict[str, Any], name: str, optional: bool = False) -> Any:
    value = raw.get(name)
    if optional and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"thread.{name} must be a whole number, not {value!r}")
    return value


def _parse_turns(raw: object, limits: Limits) -> list[bytes]:
    if not isinstance(raw, list):
        raise InvalidInput("turns must be a list")
    if len(raw) > limits.max_turns:
        raise InvalidInput(
            f"{len(raw)} turns; a thread holds at most {limits.max_turns} (THREADKEEPER_MAX_TURNS)"
        )
    return [_parse_turn(turn, seq, limits) for seq, turn in enumerate(raw, start=1)]


def _parse_turn(raw: object, seq: int, limits: Limits) -> bytes:
    """An API-shaped turn -> its stored bytes (what the API will serve for it)."""
    where = f"turns[{seq - 1}]"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a turn object")
    if raw.get("seq", seq) != seq:
        raise InvalidInput(f"{where} has seq {raw.get('seq')!r}; turns run 1, 2, 3... in order")
    turn = turn_from_dict(raw, limits, where)
    return encode_turn(turn, _time(raw, "created_at", where))


def _parse_idempotency(raw: object, thread: Thread) -> bytes:
    if isinstance(raw, str):
        return _parse_records(raw, thread)
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= idempotency.MAX_KEY
        for k, v in raw.items()
    ):
        raise InvalidInput(
            "idempotency must be the base64 of the thread's records, or (as older versions "
            f"exported it) map keys (at most {idempotency.MAX_KEY} characters) to strings"
        )
    for key, value in raw.items():
        _check_dedupe_record(key, value, thread)
    return idempotency.from_legacy({key: value.encode() for key, value in raw.items()})


def _parse_records(raw: str, thread: Thread) -> bytes:
    try:
        records = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "idempotency is not base64: export the thread again with `threadkeeper export`",
            field="idempotency",
        ) from None
    problem = idempotency.problem(records, thread.turn_count, thread.version)
    if problem is not None:
        raise InvalidInput(
            f"idempotency records do not fit the thread: {problem}", field="idempotency"
        )
    return records


def _check_dedupe_record(key: str, value: str, thread: Thread) -> None:
    """`first:last:version:fingerprint`, as the append script writes it, within the thread.

    A record that does not parse would break every later append retried with its key.
    """
    parts = value.split(":", 3)
    numbers = [int(n) if n.isascii() and n.isdigit() else 0 for n in parts[:3]]
    low, high, at = (numbers + [0, 0, 0])[:3]
    if len(parts) != 4 or not (1 <= low <= high <= thread.turn_count and 1 <= at <= thread.version):
        raise InvalidInput(
            f"idempotency[{key!r}] is {value!r}: a dedupe record reads "
            "'first:last:version:fingerprint' with 1 <= first <= last <= the thread's "
            f"turn_count ({thread.turn_count}) and 1 <= version <= its version "
            f"({thread.version})",
            field="idempotency",
        )


def parse_lines(lines: Iterable[str], limits: Limits) -> Iterator[tuple[int, Portable]]:
    """(line number, thread) for every non-blank line; raises at the first bad one."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, parse_line(text, number, limits)


def check_lines(lines: Iterable[str], limits: Limits) -> tuple[int, list[str]]:
    """Validate every line without writing: (threads found, one message per bad line)."""
    count, errors = 0, []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            parse_line(text, number, limits)
            count += 1
        except InvalidInput as exc:
            errors.append(exc.detail)
    return count, errors


# -- import: write ---------------------------------------------------------------


async def import_thread(runtime: Runtime, item: Portable) -> ImportOutcome:
    """Write one thread as new and dirty, in one step: imported | exists | tombstoned."""
    return await runtime.service.tiers.import_whole(item)
