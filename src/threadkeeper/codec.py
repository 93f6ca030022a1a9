"""How one turn is stored: a msgpack map in a single stream field, its seq in the stream ID.

The same bytes go into snapshots unchanged, so archiving and rehydrating never
re-encode a turn. Decoding treats the bytes as untrusted: no ext types, string
map keys only, bounded sizes.
"""

from __future__ import annotations

from typing import Any

import msgpack

from threadkeeper.errors import SnapshotCorrupt
from threadkeeper.models import rfc3339

TURN_FIELD = b"t"

# Optional turn fields in wire order; only those present are stored.
OPTIONAL_FIELDS = ("tool_name", "model", "files", "images", "metadata", "tokens")
# Built once: the same literal inside the loop below would allocate a list and a dict per field.
_ABSENT: tuple[object, ...] = (None, [], {})


def encode_turn(turn: dict[str, Any], created_at: int) -> bytes:
    """A validated input turn -> its stored bytes."""
    stored: dict[str, Any] = {"role": turn["role"], "content": turn["content"], "at": created_at}
    for name in OPTIONAL_FIELDS:
        value = turn.get(name)
        if value not in _ABSENT:
            stored[name] = value
    return msgpack.packb(stored, use_bin_type=True)  # type: ignore[no-any-return]


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"ext type {code} is not allowed in a turn")


_UNDECODABLE = (ValueError, msgpack.UnpackException, TypeError)


def load_turn(blob: bytes) -> dict[str, Any]:
    """Stored bytes -> the stored map, refusing anything a turn cannot hold."""
    try:
        stored = msgpack.unpackb(blob, raw=False, strict_map_key=True, ext_hook=_refuse_ext)
    except _UNDECODABLE as exc:
        raise SnapshotCorrupt(f"a stored turn does not decode: {exc}") from exc
    # type() rather than isinstance(): msgpack builds plain dicts, and this runs per turn.
    if type(stored) is not dict or "role" not in stored or "content" not in stored:
        raise SnapshotCorrupt("a stored turn lacks its role or content")
    return stored


def decode_turn(seq: int, blob: bytes) -> dict[str, Any]:
    """Stored bytes -> the turn as the API shows it."""
    stored = load_turn(blob)
    get = stored.get  # runs for every turn of every read: bound once
    return {
        "seq": seq,
        "role": stored["role"],
        "content": stored["content"],
        "created_at": rfc3339(get("at")),
        "tool_name": get("tool_name"),
        "model": get("model"),
        "files": get("files", []),
        "images": get("images", []),
        "metadata": get("metadata", {}),
        "tokens": get("tokens"),
    }


def seq_of(stream_id: bytes | str) -> int:
    """`0-<seq>` -> seq."""
    if isinstance(stream_id, bytes):  # int() reads ASCII digits from bytes: no decode
        return int(stream_id.partition(b"-")[2])
    return int(stream_id.partition("-")[2])


def stream_id(seq: int) -> str:
    return f"0-{seq}"
