from __future__ import annotations

import hashlib
import os
import struct
import tracemalloc
from typing import Any

import msgpack
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from threadkeeper import idempotency
from threadkeeper.errors import SnapshotCorrupt, SnapshotTooLarge
from threadkeeper.snapshot import (
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    SNAPSHOT_SUFFIX,
    Snapshot,
    decode_snapshot,
    encode_snapshot,
)

LIMITS = {"max_bytes": 1 << 20, "max_turns": 100}
PREFIX_LEN = len(MAGIC) + 1 + 4


def make_snapshot(turns: int = 3, version: int = 7) -> Snapshot:
    thread = {
        "id": "th-1",
        "tenant": "acme",
        "version": version,
        "turn_count": turns,
        "title": "a thread",
        "parent_id": None,
        "metadata": {"k": "v"},
    }
    blobs = [msgpack.packb({"seq": i, "content": f"turn {i}" * 20}) for i in range(1, turns + 1)]
    record = idempotency.pack(idempotency.Record(b"d" * 8, b"fp!!", 1, turns, version))
    return Snapshot(thread=thread, turns=blobs, idempotency=record)


def forge(body_raw: bytes, *, compressed: bytes | None = None, **header: Any) -> bytes:
    """A snapshot file with a consistent body checksum but any header we like."""
    body = zstandard.ZstdCompressor().compress(body_raw) if compressed is None else compressed
    fields: dict[str, Any] = {
        "thread": {"id": "x", "version": 1, "turn_count": 1},
        "turn_count": 1,
        "version": 1,
        "body_len": len(body),
        "body_raw_len": len(body_raw),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "compression": "zstd",
    }
    fields.update(header)
    packed: bytes = msgpack.packb(fields)
    return MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(packed)) + packed + body


def body_of(turns: list[Any], idempotency: Any = None) -> bytes:
    packed: bytes = msgpack.packb({"turns": turns, "idempotency": idempotency or {}})
    return packed


def corrupt_detail(data: bytes, **limits: int) -> str:
    with pytest.raises(SnapshotCorrupt) as caught:
        decode_snapshot(data, **{**LIMITS, **limits})
    assert caught.value.status == 502
    assert caught.value.detail.startswith("snapshot ")
    return caught.value.detail


def test_round_trip() -> None:
    snap = make_snapshot()
    assert decode_snapshot(encode_snapshot(snap), **LIMITS) == snap


def test_round_trip_of_an_empty_thread() -> None:
    snap = Snapshot(thread={"id": "e", "version": 1, "turn_count": 0}, turns=[], idempotency=b"")
    assert decode_snapshot(encode_snapshot(snap), **LIMITS) == snap


def test_suffix_is_exported() -> None:
    assert SNAPSHOT_SUFFIX == ".tks"


metadata_values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))


@given(
    turns=st.lists(st.binary(max_size=200), max_size=20),
    meta=st.dictionaries(st.text(max_size=10), metadata_values, max_size=5),
    idem=st.lists(st.binary(min_size=24, max_size=24), max_size=5).map(b"".join),
    version=st.integers(0, 2**40),
)
def test_round_trip_property(
    turns: list[bytes], meta: dict[str, Any], idem: bytes, version: int
) -> None:
    thread = {**meta, "version": version, "turn_count": len(turns)}
    snap = Snapshot(thread=thread, turns=turns, idempotency=idem)
    assert decode_snapshot(encode_snapshot(snap), **LIMITS) == snap


def test_encode_refuses_a_thread_without_an_int_version() -> None:
    snap = Snapshot(thread={"version": "7", "turn_count": 0}, turns=[], idempotency=b"")
    with pytest.raises(ValueError, match="version"):
        encode_snapshot(snap)


def test_encode_refuses_a_turn_count_that_does_not_match() -> None:
    snap = Snapshot(thread={"version": 1, "turn_count": 2}, turns=[b"x"], idempotency=b"")
    with pytest.raises(ValueError, match="turn_count"):
        encode_snapshot(snap)


def test_a_flipped_body_byte_fails_the_checksum() -> None:
    data = bytearray(encode_snapshot(make_snapshot()))
    data[-5] ^= 0x40
    assert "sha256" in corrupt_detail(bytes(data))


def test_a_flipped_header_byte_is_detected() -> None:
    data = bytearray(encode_snapshot(make_snapshot()))
    data[PREFIX_LEN + 3] ^= 0xFF
    assert "header" in corrupt_detail(bytes(data))


@pytest.mark.parametrize(
    ("cut", "expected"),
    [(0, "shorter than"), (PREFIX_LEN - 1, "shorter than"), (PREFIX_LEN + 4, "header is")],
)
def test_truncation_in_the_prefix_or_header(cut: int, expected: str) -> None:
    data = encode_snapshot(make_snapshot())
    assert expected in corrupt_detail(data[:cut])


def test_truncation_in_the_body() -> None:
    data = encode_snapshot(make_snapshot())
    assert "truncated" in corrupt_detail(data[:-1])


def test_wrong_magic() -> None:
    data = encode_snapshot(make_snapshot())
    assert "not a threadkeeper snapshot" in corrupt_detail(b"PKZIP!" + data[len(MAGIC) :])


def test_future_format_version() -> None:
    data = bytearray(encode_snapshot(make_snapshot()))
    data[len(MAGIC)] = FORMAT_VERSION + 1
    assert "upgrade threadkeeper" in corrupt_detail(bytes(data))


def test_huge_header_length_is_refused_before_reading() -> None:
    data = MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", 0xFFFFFFFF) + b"\x80"
    assert f"over the cap of {MAX_HEADER_BYTES}" in corrupt_detail(data)


def test_file_over_max_bytes() -> None:
    data = encode_snapshot(make_snapshot())
    assert "over the limit" in corrupt_detail(data, max_bytes=len(data) - 1)


def test_decompression_bomb_is_stopped_at_the_declared_size() -> None:
    stream = zstandard.ZstdCompressor(write_content_size=False)
    compressed = stream.compress(b"\0" * (64 << 20))
    data = forge(b"tiny", compressed=compressed)
    assert len(data) < 64 << 10
    assert "more than the 4 bytes declared" in corrupt_detail(data)


def test_declared_raw_size_over_the_cap_is_refused_before_decompressing() -> None:
    data = forge(body_of([b"x"]), body_raw_len=(1 << 20) * 1000)
    assert "uncompressed" in corrupt_detail(data)


def _honest_bomb(raw_len: int) -> bytes:
    """A body of zeros whose header tells the truth: checksum and declared length pass."""
    compressor = zstandard.ZstdCompressor().compressobj()
    chunk = b"\0" * (1 << 20)
    body = b"".join(compressor.compress(chunk) for _ in range(raw_len >> 20)) + compressor.flush()
    return forge(b"", compressed=body, body_raw_len=raw_len)


def _peak_bytes_of(call: Any) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_an_honest_bomb_is_refused_by_ratio_before_decompressing() -> None:
    data = _honest_bomb(128 << 20)
    assert len(data) < 64 << 10
    caught: list[SnapshotTooLarge] = []

    def decode() -> None:
        with pytest.raises(SnapshotTooLarge) as exc:
            decode_snapshot(data, max_bytes=512 << 20, max_turns=100_000)
        caught.append(exc.value)

    assert _peak_bytes_of(decode) < 8 << 20  # never decompressed
    problem = caught[0].problem()
    assert problem["type"].endswith("/snapshot-too-large") and problem["status"] == 502
    assert "THREADKEEPER_MAX_SNAPSHOT_RATIO" in problem["detail"]


BOMB = 48 << 20  # declared and real: under the caps given below, so never refused by size


def _decoded_under_caps(data: bytes) -> None:
    decode_snapshot(data, max_bytes=64 << 20, max_turns=100_000, max_raw_bytes=BOMB,
                    max_ratio=1 << 20)  # fmt: skip


def test_a_bomb_under_the_caps_costs_a_chunk_not_what_it_declares() -> None:
    """The fault run's bomb: within the ratio cap, it used to be decompressed whole (RSS
    56 -> 1,089 MiB for 512 MiB declared) and only then found not to be a body."""
    data = _honest_bomb(BOMB)  # zeros: msgpack reads the first byte as 0, not a map
    caught: list[str] = []

    def decode() -> None:
        with pytest.raises(SnapshotCorrupt) as exc:
            _decoded_under_caps(data)
        caught.append(exc.value.detail)

    assert _peak_bytes_of(decode) < 4 << 20  # a chunk or two, not 48 MiB
    assert "not a map" in caught[0]


def test_turns_past_the_headers_count_are_refused_before_they_are_read() -> None:
    prefix = b"\x82\xa5turns\xdd" + struct.pack(">I", 1_000)  # a map, "turns", 1,000 of them
    raw = prefix + b"\0" * (BOMB - len(prefix))
    data = forge(raw, compressed=zstandard.ZstdCompressor().compress(raw))

    def decode() -> None:
        with pytest.raises(SnapshotCorrupt, match="holds 1000 turns, the header says 1"):
            _decoded_under_caps(data)

    assert _peak_bytes_of(decode) < 4 << 20


def test_an_honest_body_is_held_once_not_twice() -> None:
    """Its turns are the memory it needs; the decompressed body is never held beside them."""
    turns = [os.urandom(1 << 20) for _ in range(16)]
    snap = Snapshot({"id": "x", "version": 1, "turn_count": 16}, turns, b"")
    data = encode_snapshot(snap)
    peak = _peak_bytes_of(lambda: decode_snapshot(data, max_bytes=64 << 20, max_turns=100))
    assert peak < 24 << 20  # 16 MiB of turns; was 49 MiB: body copy, decompressed body, turns


def test_a_frame_asking_for_a_huge_window_is_refused() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
    raw = body_of([os.urandom(64)])
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    big_window = stream.compress(raw) + stream.flush()  # size unknown: the window stays 128 MiB
    assert zstandard.get_frame_parameters(big_window).window_size == 128 << 20
    assert "does not decompress" in corrupt_detail(forge(raw, compressed=big_window))


def test_the_hard_output_cap_holds_whatever_the_ratio() -> None:
    data = forge(body_of([os.urandom(1 << 20) for _ in range(3)]))  # incompressible, 3 MiB
    with pytest.raises(SnapshotTooLarge) as exc:
        decode_snapshot(data, max_bytes=8 << 20, max_turns=100, max_raw_bytes=2 << 20)
    assert "THREADKEEPER_MAX_SNAPSHOT_RAW_BYTES=2097152" in exc.value.detail


def test_a_small_repetitive_thread_decodes_below_the_ratio_floor() -> None:
    snap = Snapshot({"id": "x", "version": 1, "turn_count": 1}, [b"a" * (4 << 20)], b"")
    data = encode_snapshot(snap)
    assert len(data) * 64 < 4 << 20  # far past the ratio, inside the floor
    assert decode_snapshot(data, max_bytes=1 << 20, max_turns=10) == snap


def test_body_shorter_than_declared_after_decompression() -> None:
    raw = body_of([b"x"])
    assert "decompresses to" in corrupt_detail(forge(raw, body_raw_len=len(raw) + 10))


def test_body_that_is_not_zstd() -> None:
    assert "does not decompress" in corrupt_detail(forge(b"x" * 10, compressed=b"not zstd at all"))


def test_turn_count_mismatch() -> None:
    data = forge(
        body_of([b"a", b"b"]),
        turn_count=3,
        thread={"id": "x", "version": 1, "turn_count": 3},
    )
    assert "holds 2 turns, the header says 3" in corrupt_detail(data)


def test_thread_version_must_match_the_header() -> None:
    data = forge(body_of([b"a"]), version=2)
    assert "thread version 1 does not match the header's 2" in corrupt_detail(data)


def test_turns_over_max_turns() -> None:
    assert "over the limit of 0" in corrupt_detail(forge(body_of([b"a"])), max_turns=0)


def test_turns_must_be_binary() -> None:
    assert "binary blobs" in corrupt_detail(forge(body_of(["text, not bin"])))


def test_idempotency_records_must_be_binary() -> None:
    assert "idempotency" in corrupt_detail(forge(body_of([b"a"], {"k": 1})))
    assert "24-byte records" in corrupt_detail(forge(body_of([b"a"], b"x" * 25)))
    assert "do not read" in corrupt_detail(forge(body_of([b"a"], {"k": b"1:1"})))


def test_an_older_snapshots_map_of_records_is_converted() -> None:
    """Snapshots written before the 24-byte records hold {key: b"first:last:version:fp"}."""
    older = {"k1": b"1:1:2:" + b"f" * 32, "k2": b"2:3:4:"}
    snap = decode_snapshot(forge(body_of([b"a"], older)), **LIMITS)
    found = {r.digest: (r.first, r.last, r.version) for r in idempotency.unpack(snap.idempotency)}
    assert found == {
        idempotency.key_digest("k1"): (1, 1, 2),
        idempotency.key_digest("k2"): (2, 3, 4),
    }


def test_body_that_is_not_a_map() -> None:
    assert "not a map" in corrupt_detail(forge(msgpack.packb([1, 2, 3])))


def test_header_field_of_the_wrong_type() -> None:
    assert "'body_sha256'" in corrupt_detail(forge(body_of([b"a"]), body_sha256=5))


def test_unknown_compression() -> None:
    assert "'lz4' is not supported" in corrupt_detail(forge(body_of([b"a"]), compression="lz4"))


def test_msgpack_ext_types_are_refused() -> None:
    ext = msgpack.ExtType(5, b"payload")
    data = forge(body_of([b"a"]), thread={"id": ext, "version": 1, "turn_count": 1})
    assert "not valid msgpack" in corrupt_detail(data)


def test_msgpack_timestamps_are_refused() -> None:
    stamp = msgpack.Timestamp(1, 0)
    data = forge(body_of([b"a"]), thread={"id": stamp, "version": 1, "turn_count": 1})
    assert "not valid msgpack" in corrupt_detail(data)


def test_non_string_map_keys_are_refused() -> None:
    data = forge(body_of([b"a"]), thread={1: "x", "version": 1, "turn_count": 1})
    assert "not valid msgpack" in corrupt_detail(data)


def test_trailing_garbage_after_the_header_map() -> None:
    data = encode_snapshot(make_snapshot())
    header_len = struct.unpack(">I", data[len(MAGIC) + 1 : PREFIX_LEN])[0]
    patched = data[: len(MAGIC) + 1] + struct.pack(">I", header_len + 1) + data[PREFIX_LEN:]
    assert "header is corrupt: is not valid msgpack" in corrupt_detail(patched)
