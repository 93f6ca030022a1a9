"""How one turn is stored: its public JSON, in a single stream field, its seq in the stream ID.

A turn is encoded once, when it is written, as every read shows it
(`wire.shapes.Turn`), less what a read can put back by slicing and joining:
serving a page joins stored bytes, it never decodes a turn. The same bytes go
into snapshots unchanged. Two layouts are written (`encode_turn`):

- A turn that uses none of the optional fields (most do not) is stored
  compact: one byte naming its role (an index into `ROLES`, below any byte
  JSON or msgpack starts with), its content as the JSON string holds it
  (escaped, without the quotes), and its 24-character `created_at`. A read
  writes the rest around them (`turn_json`): `{"seq":N,"role":…,"content":"`,
  `","created_at":"`, and the fixed tail of defaults (`DEFAULTS`). ~65 bytes
  less per turn than the JSON, which for turns of ~400 bytes lets a 4 KB
  stream node hold 9 of them instead of 8.
- Any other turn is its JSON without the opening `{"seq":N,` (it opens with
  `"role":`): the seq is the stream ID already, put back on read.

Older layouts still read, from Redis and from snapshots: turns stored whole,
opening with `{"seq":N,`, those ending at their `created_at`
without the defaults (`SHORT_END`; a whole turn never ends in `"}`, its last
field being `tokens`: null or a number), and turns of the msgpack format
(first byte 0x80-0x8f or 0xde/0xdf), converted on read. Decoding treats
stored bytes as untrusted.

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

from threadkeeper import models
from threadkeeper.errors import SnapshotCorrupt
from threadkeeper.models import rfc3339
from threadkeeper.wire.shapes import Turn, TurnIn

TURN_FIELD = b"t"
JSON_TURN = ord("{")  # the first byte of a turn stored whole, `{"seq":N,` included
SEQLESS_TURN = ord('"')  # the first byte of a turn stored without its `{"seq":N,`
ROLES = tuple(role.encode() for role in models.ROLES)  # a compact turn's first byte indexes it
_ROLE_CODES = {role.decode(): bytes([code]) for code, role in enumerate(ROLES)}
TIME_LENGTH = len("2025-01-01T00:00:00.000Z")  # a compact turn's last bytes: its created_at
_SEQ_OPENING = b'{"seq":0,'
# The optional fields at their defaults, in wire order: what a short stored turn leaves out.
DEFAULTS = b',"tool_name":null,"model":null,"files":[],"images":[],"metadata":{},"tokens":null}'
SHORT_END = b'"}'  # how a turn stored without its defaults ends (at its created_at)

_encode = msgspec.json.Encoder().encode
_decode_turn = msgspec.json.Decoder(Turn).decode


def encode_turn(turn: TurnIn | dict[str, Any], created_at: int) -> bytes:
    """A validated input turn -> its stored bytes: its JSON without the opening `{"seq":N,`."""
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
    at = public.created_at
    if whole.endswith(DEFAULTS) and at is not None and len(at) == TIME_LENGTH:
        opening = len(b'{"seq":0,"role":"%b","content":"' % turn.role.encode())
        closing = len(b'","created_at":"%b"%b' % (at.encode(), DEFAULTS))
        return _ROLE_CODES[turn.role] + whole[opening:-closing] + at.encode()
    return whole[len(_SEQ_OPENING) :]


def turn_json(seq: int, blob: bytes) -> bytes:
    """Stored bytes -> the turn's public JSON (a turn of an older layout is converted).

    service._view does the same inline, for speed: change both together.
    """
    if blob and blob[0] < len(ROLES):
        return b'{"seq":%d,"role":"%b","content":"%b","created_at":"%b"%b' % (
            seq,
            ROLES[blob[0]],
            blob[1:-TIME_LENGTH],
            blob[-TIME_LENGTH:],
            DEFAULTS,
        )
    if blob[:1] == b'"':
        return b'{"seq":%d,%b' % (seq, blob)
    if blob[-2:] == SHORT_END:
        return blob[:-1] + DEFAULTS
    if blob[:1] == b"{":
        return blob
    return _encode(_legacy_turn(seq, blob))


def is_json_turn(blob: bytes) -> bool:
    """Whether `blob` is in one of the JSON layouts (else it is msgpack, or corrupt)."""
    return bool(blob) and (blob[0] < len(ROLES) or blob[0] in (JSON_TURN, SEQLESS_TURN))


def decode_turn(seq: int, blob: bytes) -> dict[str, Any]:
    """Stored bytes -> the turn as the API shows it, as a dict."""
    return msgspec.structs.asdict(load_turn(seq, blob))


def load_turn(seq: int, blob: bytes) -> Turn:
    """Stored bytes -> the turn, refusing anything a turn cannot hold."""
    if not is_json_turn(blob):
        return _legacy_turn(seq, blob)
    try:
        return _decode_turn(turn_json(seq, blob))
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


def deleted_at(marker: bytes) -> str:
    """When a deleted turn's marker says it was deleted (RFC 3339)."""
    return str(msgspec.json.decode(marker)["deleted_at"])


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
    turn.pop("seq", None)  # stored without it, as every turn is
    # Right after created_at: the stored turn still ends at `tokens` (or `item`), never in
    # `"}`, which would read as a short turn and get its defaults twice.
    stamped: dict[str, Any] = {}
    for name, value in turn.items():
        stamped[name] = value
        if name == "created_at":
            stamped["edited_at"] = rfc3339(edited_at)
    return _encode(stamped)[1:]


def seq_of(stream_id: bytes | str) -> int:
    """`0-<seq>` -> seq."""
    if isinstance(stream_id, bytes):  # int() reads ASCII digits from bytes: no decode
        return int(stream_id.partition(b"-")[2])
    return int(stream_id.partition("-")[2])


def stream_id(seq: int) -> str:
    return f"0-{seq}"


def as_text(value: bytes | str) -> str:
    """A Redis reply as str: bytes from our raw clients, str from a decoding one."""
    return value.decode() if isinstance(value, bytes) else value
