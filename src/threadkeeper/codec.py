"""How one turn is stored: its public JSON, in a single stream field, its seq in the stream ID.

A turn is encoded once, when it is written, as every read shows it
(`wire.shapes.Turn`), so serving a page joins stored bytes. Its seq is
assigned where the store assigns it: the append script writes the opening
`{"seq":N,` before the rest (`encode_turn`), a create or a fork stores whole
turns (`stored_turn`). The same bytes go into snapshots unchanged.

A turn that uses none of the optional fields (most do not) is stored without
them, ending at its `created_at`: `..."created_at":"…Z"}`. Reading it puts the
fixed tail of defaults back (`DEFAULTS`), a slice and a join rather than a
decode, and saves ~80 bytes of Redis per turn. A whole turn never ends in `"}`
(its last field is `tokens`: null or a number), so the two cannot be confused.

Turns written before this format are msgpack maps (first byte 0x80-0x8f or
0xde/0xdf, never `{`): they read correctly, converted on read (`turn_json`), and
so do snapshots that hold them. Decoding treats stored bytes as untrusted.

Two extras follow a turn's fields when set, in the same JSON (the Turn shape
ignores them, reads show them): `item`, the OpenAI conversation item the turn
was written from (conversations/items.py), and `edited_at`. A deleted turn
keeps its seq as a marker, `{"deleted_at":…, "seq":N, …}` with no content, so
snapshots, forks and exports stay positional; reads never show it.
"""

from __future__ import annotations

from typing import Any

import msgpack
import msgspec

from threadkeeper.errors import SnapshotCorrupt
from threadkeeper.models import rfc3339
from threadkeeper.wire.shapes import Turn, TurnIn

TURN_FIELD = b"t"
JSON_TURN = ord("{")  # the first byte of a turn stored as JSON
_SEQ_OPENING = b'{"seq":0,'
# The optional fields at their defaults, in wire order: what a short stored turn leaves out.
DEFAULTS = b',"tool_name":null,"model":null,"files":[],"images":[],"metadata":{},"tokens":null}'
SHORT_END = b'"}'  # how a turn stored without its defaults ends (at its created_at)

_encode = msgspec.json.Encoder().encode
_decode_turn = msgspec.json.Decoder(Turn).decode


def encode_turn(turn: TurnIn | dict[str, Any], created_at: int) -> bytes:
    """A validated input turn -> its stored JSON without the opening `{"seq":N,`."""
    if isinstance(turn, dict):  # a test's or a tool's plain turn
        turn = msgspec.convert(turn, TurnIn)
    public = Turn(
        seq=0, role=turn.role, content=turn.content, created_at=rfc3339(created_at),
        tool_name=turn.tool_name, model=turn.model, files=turn.files, images=turn.images,
        metadata=turn.metadata, tokens=turn.tokens,
    )  # fmt: skip
    whole = _encode(public)
    item = getattr(turn, "item", None)  # a conversation item's turn (conversations.items)
    if item is not None:  # after the whole turn: a short one would lose its defaults
        return b'%b,"item":%b}' % (whole[len(_SEQ_OPENING) : -1], _encode(item))
    if whole.endswith(DEFAULTS) and public.created_at is not None:
        return whole[len(_SEQ_OPENING) : -len(DEFAULTS)] + b"}"
    return whole[len(_SEQ_OPENING) :]


def stored_turn(seq: int, body: bytes) -> bytes:
    """The whole stored turn, from `encode_turn`'s bytes (what the append script writes)."""
    return b'{"seq":%d,%b' % (seq, body)


def turn_json(seq: int, blob: bytes) -> bytes:
    """Stored bytes -> the turn's public JSON (a turn of the old format is converted)."""
    if blob[-2:] == SHORT_END:
        return blob[:-1] + DEFAULTS
    if blob[:1] == b"{":
        return blob
    return _encode(_legacy_turn(seq, blob))


def decode_turn(seq: int, blob: bytes) -> dict[str, Any]:
    """Stored bytes -> the turn as the API shows it, as a dict."""
    return msgspec.structs.asdict(load_turn(seq, blob))


def load_turn(seq: int, blob: bytes) -> Turn:
    """Stored bytes -> the turn, refusing anything a turn cannot hold."""
    if blob[:1] != b"{":
        return _legacy_turn(seq, blob)
    try:
        return _decode_turn(blob)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotCorrupt(f"a stored turn does not decode: {exc}") from exc


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"ext type {code} is not allowed in a turn")


_UNDECODABLE = (ValueError, msgpack.UnpackException, TypeError)


def _legacy_turn(seq: int, blob: bytes) -> Turn:
    """A turn stored as a msgpack map (before the JSON format) -> the turn."""
    try:
        stored = msgpack.unpackb(blob, raw=False, strict_map_key=True, ext_hook=_refuse_ext)
    except _UNDECODABLE as exc:
        raise SnapshotCorrupt(f"a stored turn does not decode: {exc}") from exc
    if type(stored) is not dict or "role" not in stored or "content" not in stored:
        raise SnapshotCorrupt("a stored turn lacks its role or content")
    at = stored.pop("at", None)
    try:
        return msgspec.convert({**stored, "seq": seq, "created_at": rfc3339(at)}, Turn)
    except (msgspec.ValidationError, ValueError) as exc:
        raise SnapshotCorrupt(f"a stored turn does not decode: {exc}") from exc


DELETED_OPENING = b'{"deleted_at":'


def deleted_marker(seq: int, blob: bytes, deleted_at: int) -> bytes:
    """What stays at turn `seq` once deleted: its role and time, not its content."""
    turn = load_turn(seq, blob)
    marker = {"deleted_at": rfc3339(deleted_at), "seq": seq, "role": turn.role, "content": "",
              "created_at": turn.created_at}  # fmt: skip
    return _encode(marker)


def is_deleted(blob: bytes) -> bool:
    return blob[:14] == DELETED_OPENING


def edited_turn(seq: int, blob: bytes, fields: dict[str, Any], edited_at: int) -> bytes | None:
    """Turn `seq` with new `content` and/or `metadata`, or None if it already holds them.

    A turn that was an OpenAI item and gets new content becomes a plain turn: the item's
    text would no longer match.
    """
    turn: dict[str, Any] = msgspec.json.decode(turn_json(seq, blob))
    changed = {k: v for k, v in fields.items() if turn.get(k) != v}
    if not changed:
        return None
    turn |= changed
    if "content" in changed:
        turn.pop("item", None)
    turn.pop("edited_at", None)
    # Right after created_at: the stored turn still ends at `tokens` (or `item`), never in
    # `"}`, which would read as a short turn and get its defaults twice.
    stamped: dict[str, Any] = {}
    for name, value in turn.items():
        stamped[name] = value
        if name == "created_at":
            stamped["edited_at"] = rfc3339(edited_at)
    return _encode(stamped)


def seq_of(stream_id: bytes | str) -> int:
    """`0-<seq>` -> seq."""
    if isinstance(stream_id, bytes):  # int() reads ASCII digits from bytes: no decode
        return int(stream_id.partition(b"-")[2])
    return int(stream_id.partition("-")[2])


def stream_id(seq: int) -> str:
    return f"0-{seq}"
