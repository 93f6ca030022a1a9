"""Turns stored as the JSON a read serves; turns of the old msgpack format still read."""

from __future__ import annotations

import msgpack
import redis
from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.models import Thread

OLD_TURNS = [
    {"role": "user", "content": "old one", "at": 1_700_000_000_123},
    {"role": "assistant", "content": "old two", "at": 1_700_000_000_456, "model": "m1",
     "files": ["f.txt"], "metadata": {"k": [1, 2]}, "tokens": 7},
]  # fmt: skip


def _old_thread(redis_url: str, thread_id: str, blobs: list[bytes] | None = None) -> None:
    """A thread as older code left it: by default one msgpack map per stream entry."""
    if blobs is None:
        blobs = [msgpack.packb(turn, use_bin_type=True) for turn in OLD_TURNS]
    thread = Thread(
        id=thread_id, tenant="default", created_at=1_700_000_000_000,
        updated_at=1_700_000_000_456, title="old", tool=None, metadata={}, parent_id=None,
        fork_seq=None, turn_count=len(blobs), byte_count=sum(map(len, blobs)), version=1,
        archived_version=0, archived_at=None, dirty_since=1_700_000_000_000,
    )  # fmt: skip
    k = keys.thread_keys("default", thread_id)
    with redis.Redis.from_url(redis_url) as r:
        r.hset(k.meta, mapping=thread.to_hash())
        for seq, blob in enumerate(blobs, start=1):
            r.xadd(k.turns, {"t": blob}, id=f"0-{seq}")
        r.zadd(k.listing, {thread_id: thread.updated_at})


EXPECTED = [
    {"seq": 1, "role": "user", "content": "old one", "created_at": "2023-11-14T22:13:20.123Z",
     "tool_name": None, "model": None, "files": [], "images": [], "metadata": {},
     "tokens": None},
    {"seq": 2, "role": "assistant", "content": "old two",
     "created_at": "2023-11-14T22:13:20.456Z", "tool_name": None, "model": "m1",
     "files": ["f.txt"], "images": [], "metadata": {"k": [1, 2]}, "tokens": 7},
]  # fmt: skip


def test_a_read_serves_the_stored_bytes_of_each_turn_behind_its_seq(
    client: TestClient, redis_url: str
) -> None:
    first = {"role": "user", "content": 'héllo "quoted"', "metadata": {"a": 1}}
    assert client.post("/v1/threads", json={"id": "t1", "turns": [first]}).status_code == 201
    more = {"turns": [{"role": "assistant", "content": "two", "tokens": 3}]}
    assert client.post("/v1/threads/t1/turns", json=more).status_code == 201

    with redis.Redis.from_url(redis_url) as r:
        entries = r.xrange(keys.thread_keys("default", "t1").turns)
    stored = [fields[b"t"] for _, fields in entries]
    response = client.get("/v1/threads/t1")

    # The seq is the stream ID: Redis holds a turn with optional fields without `{"seq":N,`.
    assert all(blob.startswith(b'"role":') for blob in stored)
    served = b",".join(b'{"seq":%d,%b' % (i, blob) for i, blob in enumerate(stored, start=1))
    assert b'"turns":[' + served + b"]" in response.content
    assert [t["seq"] for t in response.json()["turns"]] == [1, 2]
    assert response.json()["turns"][0]["content"] == first["content"]


def test_turns_stored_whole_with_their_seq_still_read(client: TestClient, redis_url: str) -> None:
    """The layout before the seq moved out: `{"seq":N,...}`, short or with every field."""
    whole = [
        b'{"seq":1,"role":"user","content":"old one","created_at":"2023-11-14T22:13:20.123Z"}',
        b'{"seq":2,"role":"assistant","content":"old two","created_at":"2023-11-14T22:13:20.456Z"'
        b',"tool_name":null,"model":"m1","files":["f.txt"],"images":[],"metadata":{"k":[1,2]},'
        b'"tokens":7}',
    ]
    _old_thread(redis_url, "whole", whole)
    more = {"turns": [{"role": "user", "content": "new three"}]}
    assert client.post("/v1/threads/whole/turns", json=more).json()["seqs"] == [3]

    turns = client.get("/v1/threads/whole").json()["turns"]

    assert turns[:2] == EXPECTED
    assert turns[2]["seq"] == 3 and turns[2]["content"] == "new three"
    context = client.get("/v1/threads/whole/context?max_tokens=100").json()
    assert [t["content"] for t in context["turns"]] == ["old one", "old two", "new three"]
    assert client.post("/v1/threads/whole/archive?wait=true").json()["status"] == "archived"
    with redis.Redis.from_url(redis_url) as r:
        r.delete(keys.thread_keys("default", "whole").turns)
    assert client.get("/v1/threads/whole").json()["turns"] == turns  # from its snapshot


def test_turns_of_the_old_format_still_read(client: TestClient, redis_url: str) -> None:
    _old_thread(redis_url, "old")

    body = client.get("/v1/threads/old").json()

    assert body["turns"] == EXPECTED
    context = client.get("/v1/threads/old/context?max_tokens=100").json()
    assert [t["content"] for t in context["turns"]] == ["old one", "old two"]


def test_an_old_format_thread_takes_new_turns_and_forks(client: TestClient, redis_url: str) -> None:
    _old_thread(redis_url, "old")
    more = {"turns": [{"role": "user", "content": "new three"}]}
    assert client.post("/v1/threads/old/turns", json=more).json()["seqs"] == [3]

    fork = client.post("/v1/threads/old/fork", json={"at_seq": 3, "id": "child"})

    assert fork.status_code == 201, fork.text
    turns = client.get("/v1/threads/child").json()["turns"]
    assert turns[:2] == EXPECTED and turns[2]["content"] == "new three"


def test_an_old_format_snapshot_rehydrates_and_reads(client: TestClient, redis_url: str) -> None:
    _old_thread(redis_url, "old")
    assert client.post("/v1/threads/old/archive?wait=true").json()["status"] == "archived"
    with redis.Redis.from_url(redis_url) as r:
        r.delete(keys.thread_keys("default", "old").turns)

    response = client.get("/v1/threads/old")

    assert response.headers["threadkeeper-source"] == "archive"
    assert response.json()["turns"] == EXPECTED


def test_a_turn_without_optional_fields_is_stored_compact_and_read_whole(
    client: TestClient, redis_url: str
) -> None:
    plain = {"role": "user", "content": "just text"}
    quoted = {"role": "tool", "content": 'a "quoted"\nline'}
    assert client.post("/v1/threads", json={"id": "t1", "turns": [plain]}).status_code == 201
    assert client.post("/v1/threads/t1/turns", json={"turns": [plain]}).status_code == 201
    assert client.post("/v1/threads/t1/turns", json={"turns": [quoted]}).status_code == 201

    with redis.Redis.from_url(redis_url) as r:
        entries = r.xrange(keys.thread_keys("default", "t1").turns)
    stored = [fields[b"t"] for _, fields in entries]
    turns = client.get("/v1/threads/t1").json()["turns"]

    # Its role's code, its content as the JSON string holds it, its created_at: no JSON keys.
    assert [blob[:1] for blob in stored] == [b"\x00", b"\x00", b"\x03"]
    assert [blob[1:-24] for blob in stored] == [
        b"just text",
        b"just text",
        b'a \\"quoted\\"\\nline',
    ]
    assert all(
        blob[-24:] == t["created_at"].encode() for blob, t in zip(stored, turns, strict=True)
    )
    assert [t["seq"] for t in turns] == [1, 2, 3]
    assert turns[2]["content"] == quoted["content"] and turns[2]["role"] == "tool"
    for turn in turns[:2]:
        assert turn | {"seq": 0, "created_at": ""} == {
            "seq": 0, "role": "user", "content": "just text", "created_at": "",
            "tool_name": None, "model": None, "files": [], "images": [], "metadata": {},
            "tokens": None,
        }  # fmt: skip
