"""The snapshot file: one immutable, self-describing object per archived thread version.

    MAGIC b"TKSNAP" | format version (1 byte) | header length (4 bytes, big-endian)
    | header: msgpack map {thread, turn_count, version, body_len, body_raw_len,
                           body_sha256, compression}
    | body: zstd(msgpack {"turns": [bin, ...], "idempotency": bin})

`idempotency` is the thread's idempotency records (idempotency.py); a snapshot
written before them holds a map {key: b"first:last:version:fingerprint"}
instead, converted on read.

A snapshot coming back from the archive is untrusted input: every length is
checked against a cap and the body against its checksum before anything is
decompressed or decoded. The header's declared size must be within a budget: a
hard cap and a cap on the ratio to the compressed body (a few KB of zstd can claim
gigabytes). Decompression then feeds msgpack as a stream, never the whole body at
once: output past the declared size, a zstd window past MAX_WINDOW, or anything
not shaped as a body is refused when it is read, so what a bomb costs is a chunk,
not what it declares. msgpack refuses ext types and non-string map keys, and any
failure is a `SnapshotCorrupt` that says which part is wrong and how.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

import msgpack
import zstandard

from threadkeeper import idempotency as records
from threadkeeper.errors import SnapshotCorrupt, SnapshotTooLarge
from threadkeeper.keys import SNAPSHOT_SUFFIX
from threadkeeper.settings import Limits

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "SNAPSHOT_SUFFIX",
    "Snapshot",
    "check_readable",
    "decode_snapshot",
    "encode_snapshot",
]

MAGIC = b"TKSNAP"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
# Any body may expand this far whatever its ratio: small honest threads of repeated
# text compress far better than the ratio cap allows, and this much is cheap.
RATIO_FLOOR = 16 * 1024 * 1024
_DEFAULTS = Limits()
COMPRESSION = "zstd"
ZSTD_LEVEL = 3

_PREFIX = struct.Struct(">6sBI")
_READ_CHUNK = 1 << 20
# zstd's frame declares its window, which the decompressor allocates: our level 3 uses
# 2 MiB; this allows up to level 19's 8 MiB and refuses a frame that asks for more.
MAX_WINDOW = 8 << 20
_HEADER_FIELDS: dict[str, type] = {
    "thread": dict,
    "turn_count": int,
    "version": int,
    "body_len": int,
    "body_raw_len": int,
    "body_sha256": str,
    "compression": str,
}
_local = threading.local()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One version of a thread: its metadata, its turns in seq order, its idempotency records."""

    thread: dict[str, Any]
    turns: list[bytes]
    idempotency: bytes


def encode_snapshot(snap: Snapshot) -> bytes:
    """Serialize a snapshot; the thread must carry an int "version" and a matching "turn_count"."""
    version = snap.thread.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"snapshot thread version must be an int, got {version!r}")
    if snap.thread.get("turn_count") != len(snap.turns):
        raise ValueError(
            f"snapshot thread turn_count {snap.thread.get('turn_count')!r} "
            f"does not match the {len(snap.turns)} turns given"
        )
    raw: bytes = msgpack.packb(
        {"turns": snap.turns, "idempotency": snap.idempotency}, use_bin_type=True
    )
    body = _compressor().compress(raw)
    header: bytes = msgpack.packb(
        {
            "thread": snap.thread,
            "turn_count": len(snap.turns),
            "version": version,
            "body_len": len(body),
            "body_raw_len": len(raw),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "compression": COMPRESSION,
        },
        use_bin_type=True,
    )
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"snapshot header is {len(header)} bytes, over {MAX_HEADER_BYTES}")
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)) + header + body


def decode_snapshot(
    data: bytes,
    *,
    max_bytes: int,
    max_turns: int,
    max_raw_bytes: int = _DEFAULTS.max_snapshot_raw_bytes,
    max_ratio: int = _DEFAULTS.max_snapshot_ratio,
) -> Snapshot:
    """Verify and decode a snapshot, refusing anything oversized, tampered with or malformed.

    CPU- and memory-heavy for a big thread: call it off the event loop.
    """
    if len(data) > max_bytes:
        _corrupt("file", f"is {len(data)} bytes, over the limit of {max_bytes}")
    header, body = _split(data)
    _check_body(body, header)
    _check_budget(header, len(body), max_raw_bytes, max_ratio)
    if header["turn_count"] > max_turns:
        _corrupt("header", f"turn count {header['turn_count']} is over the limit of {max_turns}")
    turns, idempotency = _read_body(body, header, max_turns)
    return Snapshot(thread=header["thread"], turns=turns, idempotency=idempotency)


def check_readable(data: bytes, *, max_raw_bytes: int, max_ratio: int) -> None:
    """Raise SnapshotTooLarge if `decode_snapshot` would refuse this (honest) snapshot's size.

    The writer's check, so that nothing is archived that could not be read back.
    """
    header, body = _split(data)
    _check_budget(header, len(body), max_raw_bytes, max_ratio)


def raw_budget(body_len: int, max_raw_bytes: int, max_ratio: int) -> int:
    """How many bytes a compressed body of `body_len` bytes may decompress to."""
    return min(max_raw_bytes, max(RATIO_FLOOR, body_len * max_ratio))


def _split(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header, and the body as a view: a copy would hold the compressed body twice."""
    header_len = _check_prefix(data)
    header_end = _PREFIX.size + header_len
    return _read_header(data[_PREFIX.size : header_end]), memoryview(data)[header_end:]


def _check_budget(header: dict[str, Any], body_len: int, max_raw: int, max_ratio: int) -> None:
    declared = header["body_raw_len"]
    budget = raw_budget(body_len, max_raw, max_ratio)
    if declared > budget:
        raise SnapshotTooLarge(
            f"snapshot body claims {declared} bytes uncompressed from {body_len} compressed, "
            f"over the {budget} bytes this daemon decompresses (THREADKEEPER_MAX_SNAPSHOT_RAW_BYTES"
            f"={max_raw}, THREADKEEPER_MAX_SNAPSHOT_RATIO={max_ratio}): refused before "
            "decompressing. If the thread is honest, raise those limits for every process",
            part="body",
            limit=budget,
            setting="THREADKEEPER_MAX_SNAPSHOT_RAW_BYTES",
        )


def _corrupt(part: str, problem: str) -> NoReturn:
    raise SnapshotCorrupt(f"snapshot {part} is corrupt: {problem}", part=part)


def _compressor() -> zstandard.ZstdCompressor:
    # zstandard contexts are not thread-safe; one per thread is reused across calls.
    cctx: zstandard.ZstdCompressor | None = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return cctx


def _check_prefix(data: bytes) -> int:
    if len(data) < _PREFIX.size:
        _corrupt(
            "file", f"is truncated: {len(data)} bytes, shorter than the {_PREFIX.size}-byte prefix"
        )
    magic, fmt, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        _corrupt("magic", f"expected {MAGIC!r}, found {magic!r}: not a threadkeeper snapshot")
    if fmt != FORMAT_VERSION:
        _corrupt(
            "format version",
            f"is {fmt}, this threadkeeper reads only {FORMAT_VERSION}: upgrade threadkeeper",
        )
    if header_len > MAX_HEADER_BYTES:
        _corrupt("header length", f"is {header_len} bytes, over the cap of {MAX_HEADER_BYTES}")
    if len(data) < _PREFIX.size + header_len:
        _corrupt("header", f"is truncated: {len(data) - _PREFIX.size} of {header_len} bytes")
    return int(header_len)


def _unpack(part: str, data: bytes, *, max_len: int) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_ext_len=0,
            max_str_len=max_len,
            max_bin_len=max_len,
            max_array_len=max_len,
            max_map_len=max_len,
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        _corrupt(part, f"is not valid msgpack ({type(exc).__name__}: {exc})")


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    raise ValueError(f"msgpack ext type {code} is not allowed")


def _read_header(raw: bytes) -> dict[str, Any]:
    header = _unpack("header", raw, max_len=len(raw))
    if not isinstance(header, dict):
        _corrupt("header", f"is a {type(header).__name__}, not a map")
    for name, kind in _HEADER_FIELDS.items():
        value = header.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            _corrupt("header", f"field {name!r} is {value!r}, expected {kind.__name__}")
    _check_thread(header)
    if header["compression"] != COMPRESSION:
        _corrupt("header", f"compression {header['compression']!r} is not supported")
    return header


def _check_thread(header: dict[str, Any]) -> None:
    thread = header["thread"]
    if not all(isinstance(key, str) for key in thread):
        _corrupt("header", "thread metadata has non-string keys")
    for name in ("version", "turn_count"):
        if thread.get(name) != header[name]:
            _corrupt(
                "header",
                f"thread {name} {thread.get(name)!r} does not match the header's {header[name]}",
            )


def _check_body(body: memoryview, header: dict[str, Any]) -> None:
    if len(body) != header["body_len"]:
        _corrupt("body", f"is {len(body)} bytes, the header says {header['body_len']} (truncated?)")
    digest = hashlib.sha256(body).hexdigest()
    if digest != header["body_sha256"]:
        _corrupt("body", f"sha256 is {digest}, the header says {header['body_sha256']}")


class _CappedReader:
    """The body decompressed as it is read, refused past the `expected` bytes declared."""

    def __init__(self, body: memoryview, expected: int) -> None:
        decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        self._reader = decompressor.stream_reader(body)
        self.expected = expected
        self.count = 0

    def read(self, size: int = _READ_CHUNK) -> bytes:
        chunk: bytes = self._reader.read(min(size, _READ_CHUNK))
        self.count += len(chunk)
        if self.count > self.expected:
            _corrupt("body", f"decompresses to more than the {self.expected} bytes declared")
        return chunk


def _read_body(
    body: memoryview, header: dict[str, Any], max_turns: int
) -> tuple[list[bytes], bytes]:
    """Decompress and decode in one stream: what is held is the turns read so far and one
    chunk (or the one turn being read), never the whole decompressed body, so a body that
    is not what its header says is refused at the first thing wrong."""
    expected = header["body_raw_len"]
    source = _CappedReader(body, expected)
    unpacker = msgpack.Unpacker(
        source, read_size=_READ_CHUNK, max_buffer_size=max(expected, _READ_CHUNK), raw=False,
        strict_map_key=True, ext_hook=_refuse_ext, max_ext_len=0, max_str_len=expected,
        max_bin_len=expected, max_array_len=max_turns, max_map_len=expected,
    )  # fmt: skip
    try:
        fields = _read_fields(unpacker, header)
        _expect_end(unpacker)
    except zstandard.ZstdError as exc:
        _corrupt("body", f"does not decompress ({exc})")
    except msgpack.OutOfData:
        _corrupt("body", f"decompresses to {source.count} bytes, the header says {expected}")
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        _corrupt("body", f"is not valid msgpack ({type(exc).__name__}: {exc})")
    if source.count != expected:
        _corrupt("body", f"decompresses to {source.count} bytes, the header says {expected}")
    turns = fields.get("turns")
    if not isinstance(turns, list):
        _corrupt("body", "turns are not a list of binary blobs")
    return turns, _records(fields.get("idempotency"))


def _read_fields(unpacker: msgpack.Unpacker, header: dict[str, Any]) -> dict[str, Any]:
    """The body's map, its turns read one at a time against the header's count."""
    try:
        entries = unpacker.read_map_header()
    except ValueError:
        _corrupt("body", "is not a map")
    fields: dict[str, Any] = {}
    for _ in range(entries):
        key = unpacker.unpack()
        fields[key] = _read_turns(unpacker, header) if key == "turns" else unpacker.unpack()
    return fields


def _read_turns(unpacker: msgpack.Unpacker, header: dict[str, Any]) -> list[bytes]:
    try:
        count = unpacker.read_array_header()
    except ValueError:
        _corrupt("body", "turns are not a list of binary blobs")
    if count != header["turn_count"]:
        _corrupt("body", f"holds {count} turns, the header says {header['turn_count']}")
    turns = []
    for _ in range(count):
        blob = unpacker.unpack()
        if not isinstance(blob, bytes):
            _corrupt("body", "turns are not a list of binary blobs")
        turns.append(blob)
    return turns


def _expect_end(unpacker: msgpack.Unpacker) -> None:
    try:
        unpacker.unpack()
    except msgpack.OutOfData:
        return
    _corrupt("body", "holds more after its map")


def _records(value: object) -> bytes:
    """The idempotency records, from their binary form or the older map."""
    if isinstance(value, dict):
        if not _is_str_bytes_map(value):
            _corrupt("body", "idempotency records are not a map of string to binary")
        try:
            return records.from_legacy(value)
        except ValueError as exc:
            _corrupt("body", f"idempotency records do not read: {exc}")
    if not isinstance(value, bytes) or len(value) % records.RECORD_BYTES:
        _corrupt("body", f"idempotency records are not {records.RECORD_BYTES}-byte records")
    return value


def _is_str_bytes_map(value: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, bytes) for k, v in value.items())
