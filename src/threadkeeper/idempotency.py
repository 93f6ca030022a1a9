"""How a thread remembers the Idempotency-Keys of its appends: 24-byte records, in buckets.

Every keyed append leaves one record, for ever (no window):

    key digest (8 bytes) | body fingerprint (4) | first seq (4) | last seq (4) | version (4)

big-endian, the last three what the append answered. The records sit in a Redis
hash beside the thread (`keys.ThreadKeys.idempotency`), in 256 buckets: the field
is the digest's first byte, its value that bucket's records end to end. A retry
with the same key reads one bucket, finds its record by the digest (`string.find`
in Lua, checked to start on a record boundary) and answers with the same seqs and
version; if the body's fingerprint differs, it is refused (idempotency-mismatch).
A lookup reads about n / 256 records of a thread's n, and an append rewrites that
bucket: one flat string would be read whole on every keyed append (~0.5 ms at
10,000 records, measured), a hash of one field per key costs ~136 bytes a key.

The digest is the first 8 bytes of SHA-256 of the key, computed here, in Python.
Two different keys of one thread share a digest with probability about
n^2 / 2^65 for n keys (n = 100,000, the default turn limit: 3e-10); the second
append would then be answered as the first (or refused, if the bodies differ).
The fingerprint is 4 bytes of SHA-256 of the request's fingerprint: a key reused
with a different body goes unnoticed with probability 2^-32 (it is answered as a
retry instead of refused).

Records of older versions, a hash `key -> "first:last:version:fingerprint"` (and
its previous generation, from the retired THREADKEEPER_IDEMPOTENCY_WINDOW), are
still honoured where Redis holds them, and converted to records (`from_legacy`)
when a thread is snapshotted, or a snapshot or an export holding them is read.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

MAX_KEY = 255  # an Idempotency-Key, in characters: the API, its schema and an import
RECORD_BYTES = 24
TAG_BYTES = 12  # digest and fingerprint: what the append script is given
_ANSWER = struct.Struct(">III")


@dataclass(frozen=True, slots=True)
class Record:
    digest: bytes
    fingerprint: bytes
    first: int
    last: int
    version: int


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()[:8]


def body_fingerprint(fingerprint: str) -> bytes:
    """The 4 bytes a record keeps of a request's fingerprint (service.fingerprint)."""
    return hashlib.sha256(fingerprint.encode()).digest()[:4]


def request_tag(key: str, fingerprint: str) -> bytes:
    """What the append script stores first in a record, and looks the key up by."""
    return key_digest(key) + body_fingerprint(fingerprint)


def pack(record: Record) -> bytes:
    answer = _ANSWER.pack(record.first, record.last, record.version)
    return record.digest + record.fingerprint + answer


def unpack(records: bytes) -> Iterator[Record]:
    """Each record of `records`; ValueError if it is not a whole number of records."""
    if len(records) % RECORD_BYTES:
        raise ValueError(
            f"{len(records)} bytes is not a whole number of {RECORD_BYTES}-byte records"
        )
    for at in range(0, len(records), RECORD_BYTES):
        first, last, version = _ANSWER.unpack_from(records, at + TAG_BYTES)
        yield Record(records[at : at + 8], records[at + 8 : at + 12], first, last, version)


def from_legacy(mapping: Mapping[str, bytes]) -> bytes:
    """Hash-form records (`key -> b"first:last:version:fingerprint"`) -> records.

    ValueError names the first record that does not read so.
    """
    out = []
    for key, value in sorted(mapping.items()):
        parts = value.decode(errors="replace").split(":", 3)
        numbers = [int(n) for n in parts[:3] if n.isascii() and n.isdigit()]
        if len(parts) != 4 or len(numbers) != 3:
            raise ValueError(
                f"the record of key {key!r} reads {value!r}, not first:last:version:fp"
            )
        first, last, version = numbers
        out.append(pack(Record(key_digest(key), body_fingerprint(parts[3]), first, last, version)))
    return b"".join(out)


def buckets(records: bytes) -> dict[bytes, bytes]:
    """Records -> the hash the append script keeps them in: first byte -> its records."""
    grouped: dict[bytes, list[bytes]] = {}
    for at in range(0, len(records), RECORD_BYTES):
        grouped.setdefault(records[at : at + 1], []).append(records[at : at + RECORD_BYTES])
    return {bucket: b"".join(group) for bucket, group in grouped.items()}


def problem(records: bytes, turn_count: int, version: int) -> str | None:
    """Why `records` cannot be a thread's records (at `version`, `turn_count` turns), or None.

    A record that does not fit would answer a later retry with seqs the thread lacks.
    """
    try:
        for r in unpack(records):
            if not 1 <= r.first <= r.last <= turn_count:
                return f"a record names turns {r.first}-{r.last}, the thread has {turn_count}"
            if not 1 <= r.version <= version:
                return f"a record names version {r.version}, the thread is at {version}"
    except ValueError as exc:
        return str(exc)
    return None
