"""Threads as JSONL, to move them between machines (`threadkeeper export` / `import`).

One line per thread, in the archive's schema:

    {"format": "threadkeeper-export/1",
     "thread": {...the thread's metadata map, as its snapshot records it...},
     "turns": [{...the turn as the API shows it..., "stored": "<base64 of its stored bytes>"}],
     "idempotency": {"<key>": "<dedupe record>"}}

`stored` is the source of truth: import writes those exact bytes, so a thread
exported and imported elsewhere holds a byte-identical stream. The readable
fields beside it must agree with it; a hand-edited turn is refused rather than
silently ignored. Every line is checked against the limits before anything is
written.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from threadkeeper.codec import decode_turn
from threadkeeper.errors import InvalidInput, SnapshotCorrupt, ThreadkeeperError
from threadkeeper.models import Thread, now_ms
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Limits
from threadkeeper.wire.decode import check_id, check_metadata, turn_from_dict
from threadkeeper.wire.shapes import MAX_LABEL

FORMAT = "threadkeeper-export/1"
LINE_FIELDS = frozenset({"format", "thread", "turns", "idempotency"})
THREAD_REQUIRED = ("id", "tenant", "created_at", "updated_at", "version", "turn_count")
MAX_IDEMPOTENCY_KEY = 256


@dataclass(frozen=True, slots=True)
class Portable:
    """One thread as it travels: metadata, turns as stored, dedupe records."""

    thread: Thread
    blobs: list[bytes]
    idempotency: dict[str, bytes]


# -- export ---------------------------------------------------------------------


async def read_portable(runtime: Runtime, tenant: str, thread_id: str) -> Portable:
    """The whole thread, rehydrating it first if its turns are only in the archive."""
    state = await runtime.store.all_turns(tenant, thread_id)
    if state is None or len(state[1]) != state[0].turn_count:
        outcome = await runtime.tiering.rehydrate(tenant, thread_id)
        if outcome.status in ("behind", "lost"):
            first, last = outcome.missing or (0, 0)
            raise SnapshotCorrupt(
                f"thread {tenant}:{thread_id} cannot be exported whole: turns {first}-{last} "
                "are held neither in Redis nor in the archive",
                thread_id=thread_id,
            )
        state = await runtime.store.all_turns(tenant, thread_id)
    if state is None:
        raise await runtime.service.not_found(tenant, thread_id)
    return Portable(*state)


def export_line(item: Portable) -> str:
    record = {
        "format": FORMAT,
        "thread": item.thread.to_hash(),
        "turns": [_export_turn(seq, blob) for seq, blob in enumerate(item.blobs, start=1)],
        "idempotency": {key: value.decode() for key, value in sorted(item.idempotency.items())},
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _export_turn(seq: int, blob: bytes) -> dict[str, Any]:
    return decode_turn(seq, blob) | {"stored": base64.b64encode(blob).decode("ascii")}


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
    if not isinstance(record, dict) or set(record) != LINE_FIELDS:
        raise InvalidInput(f"expected an object with exactly the fields {sorted(LINE_FIELDS)}")
    if record["format"] != FORMAT:
        raise InvalidInput(f"format is {record['format']!r}; this threadkeeper reads {FORMAT!r}")
    thread = _parse_thread(record["thread"], limits)
    blobs = _parse_turns(record["turns"], limits)
    said = thread.to_hash()["bytes"]  # (mypy misreads `thread.bytes`: the field shadows the type)
    if thread.turn_count != len(blobs) or said != sum(map(len, blobs)):
        raise InvalidInput(
            f"thread says {thread.turn_count} turns / {said} bytes, the line holds "
            f"{len(blobs)} turns / {sum(map(len, blobs))} bytes (truncated or edited?)"
        )
    return Portable(thread, blobs, _parse_idempotency(record["idempotency"], thread))


def _parse_thread(raw: object, limits: Limits) -> Thread:
    if not isinstance(raw, dict) or any(name not in raw for name in THREAD_REQUIRED):
        raise InvalidInput(f"thread must be an object with at least {', '.join(THREAD_REQUIRED)}")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in raw.values()):
        raise InvalidInput("thread fields must be strings or whole numbers")
    try:
        thread = Thread.from_hash({str(k): str(v) for k, v in raw.items()})
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"thread fields do not parse ({exc})") from None
    check_id(thread.id)
    check_id(thread.tenant, "tenant")
    check_metadata(thread.metadata, limits, "thread.metadata")
    if any(len(label or "") > MAX_LABEL for label in (thread.title, thread.tool)):
        raise InvalidInput(f"thread title or tool is longer than {MAX_LABEL} characters")
    if thread.version < 1 or thread.created_at < 1 or thread.updated_at < thread.created_at:
        raise InvalidInput("thread version, created_at or updated_at is out of range")
    return thread


def _parse_turns(raw: object, limits: Limits) -> list[bytes]:
    if not isinstance(raw, list):
        raise InvalidInput("turns must be a list")
    if len(raw) > limits.max_turns:
        raise InvalidInput(
            f"{len(raw)} turns; a thread holds at most {limits.max_turns} (THREADKEEPER_MAX_TURNS)"
        )
    return [_parse_turn(turn, seq, limits) for seq, turn in enumerate(raw, start=1)]


def _parse_turn(raw: object, seq: int, limits: Limits) -> bytes:
    where = f"turns[{seq - 1}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("stored"), str):
        raise InvalidInput(f"{where} must be an object with its stored bytes in 'stored'")
    readable = {k: v for k, v in raw.items() if k != "stored"}
    turn_from_dict(readable, limits, where)
    try:
        blob = base64.b64decode(raw["stored"], validate=True)
        decoded = decode_turn(seq, blob)
    except (binascii.Error, ValueError, SnapshotCorrupt) as exc:
        detail = exc.detail if isinstance(exc, ThreadkeeperError) else str(exc)
        raise InvalidInput(f"{where}.stored is not a stored turn ({detail})") from None
    if decoded != readable:
        raise InvalidInput(
            f"{where} (seq {seq}) does not match its stored bytes: the readable fields must be "
            "exactly what 'stored' decodes to (was the line edited by hand?)"
        )
    return blob


def _parse_idempotency(raw: object, thread: Thread) -> dict[str, bytes]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= MAX_IDEMPOTENCY_KEY
        for k, v in raw.items()
    ):
        raise InvalidInput("idempotency must map keys (at most 256 characters) to strings")
    for key, value in raw.items():
        _check_dedupe_record(key, value, thread)
    return {key: value.encode() for key, value in raw.items()}


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


async def import_thread(runtime: Runtime, item: Portable) -> str:
    """Write one thread as new and dirty: imported | exists | tombstoned."""
    store = runtime.store
    if await store.get(item.thread.tenant, item.thread.id) is not None:
        return "exists"
    # Dirty on arrival, so this machine's sweeper archives it; nothing dirty carries
    # a TTL unless the daemon runs cache-only.
    thread = replace(item.thread, archived_version=0, archived_at=None, dirty_since=now_ms())
    result = await store.restore(
        thread, item.blobs, item.idempotency, create_meta=True, ttl=runtime.archive is None
    )
    if result.status == "ok":
        return "imported"
    return "exists" if result.status in ("present", "behind") else result.status
