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
import typing
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
from threadkeeper.wire.decode import check_id, check_metadata, check_turn, refusal, refused_at
from threadkeeper.wire.shapes import Dedupe, ExportLine, GapIn, ThreadIn, TurnIn
from threadkeeper.wire.threads import thread_info

# What a line must be, said the way the shapes (wire/shapes.py) declare it.
_FIELDS = msgspec.structs.fields(ThreadIn)
_REQUIRED = ", ".join(f.encode_name for f in _FIELDS if f.required)
_KNOWN = frozenset(f.encode_name for f in _FIELDS)
_IDS = {"thread.id": "thread id", "thread.tenant": "tenant", "thread.user_id": "thread.user_id"}

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
    try:
        line = msgspec.convert(record, ExportLine)
    except msgspec.ValidationError as exc:
        raise _refused(record, str(exc)) from None
    blobs = _stored_turns(line.turns, limits)
    thread = _thread(line.thread, limits, sum(map(len, blobs)))
    if thread.turn_count != len(blobs):
        raise InvalidInput(
            f"thread says turn_count {thread.turn_count}, the line holds {len(blobs)} turns "
            "(a single page of a longer thread? export it with `threadkeeper export`)"
        )
    return Portable(thread, blobs, _parse_idempotency(line.idempotency, thread))


def _refused(record: Any, message: str) -> InvalidInput:
    """What ExportLine's decoding refused, said for a line (the field, what it must be)."""
    what, path = refused_at(message)
    if not path:
        return InvalidInput(
            'expected {"thread": {...}, "turns": [...]} as the API serves a thread, '
            'optionally with "idempotency": {...}'
        )
    if path == "thread" and what.startswith("Object contains unknown field"):
        unknown = sorted(set(record["thread"]) - _KNOWN)
        return InvalidInput(f"thread has fields threadkeeper does not know: {', '.join(unknown)}")
    if path == "thread":
        return InvalidInput(f"thread must be an object with at least {_REQUIRED}")
    if path in _IDS:
        check_id(record["thread"][path.partition(".")[2]], _IDS[path])
    if path == "idempotency":
        return InvalidInput(f"idempotency must be {_described(Dedupe)}")
    return refusal(ExportLine, message)


def _described(annotation: Any) -> str:
    return str(typing.get_args(annotation)[1].description)


def _thread(raw: ThreadIn, limits: Limits, byte_count: int) -> Thread:
    check_metadata(raw.metadata, limits, "thread.metadata")
    now = now_ms()
    thread = Thread(
        id=raw.id, tenant=raw.tenant, created_at=_time(raw.created_at, "thread.created_at"),
        updated_at=_time(raw.updated_at, "thread.updated_at"), title=raw.title, tool=raw.tool,
        metadata=raw.metadata, parent_id=raw.parent_id, fork_seq=raw.fork_seq,
        turn_count=raw.turn_count, byte_count=byte_count, version=raw.version,
        archived_version=0, archived_at=None, dirty_since=now, touched_at=now,
        user_id=raw.user_id, **_gap(raw.possibly_missing),
    )  # fmt: skip
    if thread.created_at < 1 or thread.updated_at < thread.created_at:
        raise InvalidInput("thread version, created_at or updated_at is out of range")
    return thread


def _gap(gap: GapIn | None) -> dict[str, int]:
    """`possibly_missing` (turns a Redis data loss may have taken) travels with the thread."""
    if gap is None:
        return {}
    lost_at = _time(gap.lost_at, "thread.possibly_missing.lost_at")
    return {"gap_after": gap.after_seq, "gap_until": lost_at}


def _time(value: object, where: str) -> int:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidInput(
            f"{where} is {value!r}: write an RFC 3339 time, e.g. 2026-11-22T03:58:16.512Z"
        ) from None


def _stored_turns(turns: list[TurnIn], limits: Limits) -> list[bytes]:
    if len(turns) > limits.max_turns:
        raise InvalidInput(
            f"{len(turns)} turns; a thread holds at most {limits.max_turns} "
            "(THREADKEEPER_MAX_TURNS)"
        )
    return [_stored_turn(turn, seq, limits) for seq, turn in enumerate(turns, start=1)]


def _stored_turn(turn: TurnIn, seq: int, limits: Limits) -> bytes:
    """An API-shaped turn -> its stored bytes (what the API will serve for it)."""
    where = f"turns[{seq - 1}]"
    if turn.seq is not None and turn.seq != seq:
        raise InvalidInput(f"{where} has seq {turn.seq!r}; turns run 1, 2, 3... in order")
    check_turn(turn, limits, where)
    return encode_turn(turn, _time(turn.created_at, f"{where}.created_at"))


def _parse_idempotency(raw: str | dict[str, str], thread: Thread) -> bytes:
    if isinstance(raw, str):
        return _parse_records(raw, thread)
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
