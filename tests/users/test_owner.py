"""A thread's owner (user_id): taken at create, kept by a fork, shown, exported, snapshotted."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from threadkeeper.bulk.export import export_line, parse_line
from threadkeeper.errors import InvalidInput
from threadkeeper.models import Thread
from threadkeeper.service.views import Portable
from threadkeeper.settings import Limits
from threadkeeper.snapshot import Snapshot, decode_snapshot, encode_snapshot

TURN = {"role": "user", "content": "hi"}


def test_create_takes_an_owner_a_fork_keeps_it(client: TestClient) -> None:
    r = client.post("/v1/threads", json={"id": "a1", "user_id": "alice", "turns": [TURN]})
    assert r.status_code == 201 and r.json()["thread"]["user_id"] == "alice"
    assert client.get("/v1/threads/a1").json()["thread"]["user_id"] == "alice"
    fork = client.post("/v1/threads/a1/fork", json={"at_seq": 1, "id": "a2"})
    assert fork.json()["thread"]["user_id"] == "alice"
    listed = {t["id"]: t["user_id"] for t in client.get("/v1/threads").json()["threads"]}
    assert listed == {"a1": "alice", "a2": "alice"}


def test_a_thread_without_owner_shows_null(client: TestClient) -> None:
    assert client.post("/v1/threads", json={"id": "old"}).json()["thread"]["user_id"] is None


def test_an_owner_must_be_an_id(client: TestClient) -> None:
    r = client.post("/v1/threads", json={"user_id": "al ice"})
    assert r.status_code == 400 and "user_id" in r.text


def test_a_snapshot_keeps_the_owner_and_an_older_one_reads_without() -> None:
    base = _owned("t", "alice")
    for fields, owner in ((base.to_hash(), "alice"), (_without_owner(base), None)):
        data = encode_snapshot(Snapshot(thread=fields, turns=[], idempotency=b""))
        back = decode_snapshot(data, max_bytes=1 << 20, max_turns=10)
        assert Thread.from_hash(back.thread).user_id == owner


def _owned(thread_id: str, user_id: str) -> Thread:
    return Thread(
        id=thread_id, tenant="acme", created_at=1, updated_at=2, title=None, tool=None,
        metadata={}, parent_id=None, fork_seq=None, turn_count=0, byte_count=0, version=1,
        archived_version=0, archived_at=None, dirty_since=None, user_id=user_id,
    )  # fmt: skip


def _without_owner(thread: Thread) -> dict[str, str | int]:
    fields = thread.to_hash()
    del fields["user_id"]
    return fields


def test_export_lines_keep_the_owner_and_refuse_a_bad_one() -> None:
    base = _owned("e1", "bob")
    line = export_line(Portable(base, [], b""))
    assert parse_line(line, 1, Limits()).thread.user_id == "bob"
    bad = json.loads(line)
    bad["thread"]["user_id"] = "b:ob"
    with pytest.raises(InvalidInput, match="user_id"):
        parse_line(json.dumps(bad), 1, Limits())
