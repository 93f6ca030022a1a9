"""The checkpoint routes and their Redis layout, on a standalone Redis and on the cluster
(conftest.BOTH_KINDS): values stored once per version, writes idempotent per (task, idx),
a read that touches a bounded number of turns, tenants apart, tombstones, a lost index
rebuilt, bad input refused with what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.crc import key_slot
from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.auth import add_token
from threadkeeper.checkpoints.index import CheckpointIndex, Found
from threadkeeper.codec import load_turn
from threadkeeper.settings import Limits, Settings
from threadkeeper.store.connection import async_client, sync_client

BASE = "/v1/threads/t1"


def typed(n: int) -> list[str]:
    return ["msgpack", f"AA{n:02d}"]  # opaque to the server: never decoded


def put(client: TestClient, cid: str, versions: dict[str, int], new: dict[str, int],
        parent: str | None = None, ns: str = "", **extra: Any) -> None:  # fmt: skip
    body = {"thread": "lg thread 1", "ns": ns, "id": cid, "parent_id": parent,
            "checkpoint": typed(0), "versions": versions, "metadata": {"step": len(cid)},
            "values": [{"channel": ch, "version": v, "value": typed(v)} for ch, v in new.items()],
            **extra}  # fmt: skip
    answer = client.post(f"{BASE}/checkpoints", json=body)
    assert answer.status_code == 201, answer.text


def get(client: TestClient, **params: str) -> dict[str, Any]:
    answer = client.get(f"{BASE}/checkpoint", params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def writes(client: TestClient, cid: str, task: str, *pairs: tuple[str, int, int]) -> None:
    body = {
        "thread": "lg thread 1",
        "checkpoint_id": cid,
        "task_id": task,
        "writes": [{"channel": ch, "idx": idx, "value": typed(n)} for ch, idx, n in pairs],
    }
    answer = client.post(f"{BASE}/checkpoints/writes", json=body)  # fmt: skip
    assert answer.status_code == 201, answer.text


def stored_values(url: str, tenant: str = "default") -> list[str]:
    """Every channel value the thread's turns hold, as channel@version."""
    with sync_client(url) as client:
        entries = client.xrange(keys.thread_keys(tenant, "t1").turns)
    held = []
    for n, (_, fields) in enumerate(entries, start=1):
        record = load_turn(n, fields[b"t"]).metadata["langgraph"]
        held += [f"{ch}@{v}" for ch, v, _ in record.get("values", [])]
    return held


def test_each_value_is_stored_once_per_version_and_found_from_later_checkpoints(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    put(client, "c1", {"a": 1, "b": 1}, {"a": 1, "b": 1})
    put(client, "c2", {"a": 1, "b": 2}, {"b": 2}, parent="c1")
    put(client, "c3", {"a": 1, "b": 3}, {"b": 3}, parent="c2")
    assert sorted(stored_values(str(make_settings().redis_url))) == ["a@1", "b@1", "b@2", "b@3"]
    newest = get(client)
    assert newest["id"] == "c3" and newest["parent_id"] == "c2"
    assert newest["values"] == {"a": typed(1), "b": typed(3)}
    assert get(client, id="c1")["values"] == {"a": typed(1), "b": typed(1)}


def test_pending_writes_keep_the_first_per_task_and_index_and_sort_like_langgraph(
    client: TestClient,
) -> None:
    put(client, "c1", {}, {})
    writes(client, "c1", "task-b", ("x", 0, 1), ("y", 1, 2))
    writes(client, "c1", "task-b", ("x", 0, 9))  # a resent write: the first stays
    writes(client, "c1", "task-a", ("__error__", -1, 3))
    writes(client, "c1", "task-a", ("__error__", -1, 4))  # a special write: replaced
    found = [(w["task_id"], w["channel"], w["value"], w["idx"]) for w in get(client)["writes"]]
    assert found == [("task-a", "__error__", typed(4), -1), ("task-b", "x", typed(1), 0),
                     ("task-b", "y", typed(2), 1)]  # fmt: skip


def test_a_read_fetches_a_bounded_number_of_turns_whatever_the_history(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    """The newest checkpoint of a 60-step thread is rebuilt from its own turn and the turn
    of its other channel's value: 2 turns read, not 60."""
    put(client, "c000", {"a": 1, "b": 1}, {"a": 1, "b": 1})
    for step in range(1, 60):
        put(client, f"c{step:03d}", {"a": 1, "b": step + 1}, {"b": step + 1})

    async def read() -> Found:
        redis = async_client(str(make_settings().redis_url))
        try:
            return await CheckpointIndex(redis).read("default", "t1", ns="", one=True)
        finally:
            await redis.aclose()

    found = asyncio.run(read())
    assert found.status == "ok" and sorted(found.held) == [1, 60]
    assert get(client)["values"] == {"a": typed(1), "b": typed(60)}


def test_every_key_of_a_langgraph_thread_is_in_its_slot(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    put(client, "c1", {"a": 1}, {"a": 1})
    writes(client, "c1", "t", ("a", 0, 1))
    k = keys.thread_keys("default", "t1")
    with sync_client(str(make_settings().redis_url)) as direct:
        for key in k.checkpoint_index:
            assert direct.exists(key), key
    assert {key_slot(key.encode()) for key in [k.meta, k.turns, *k.checkpoint_index]} == {
        key_slot(k.meta.encode())
    }


def test_a_lost_index_is_rebuilt_from_the_turns(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    put(client, "c1", {"a": 1}, {"a": 1})
    put(client, "c2", {"a": 2}, {"a": 2}, parent="c1")
    writes(client, "c2", "t", ("a", 0, 5))
    with sync_client(str(make_settings().redis_url)) as direct:
        direct.delete(*keys.thread_keys("default", "t1").checkpoint_index)
    found = get(client)
    assert found["id"] == "c2" and found["values"] == {"a": typed(2)}
    assert [w["value"] for w in found["writes"]] == [typed(5)]
    listed = client.get(f"{BASE}/checkpoints").json()["checkpoints"]
    assert [c["id"] for c in listed] == ["c2", "c1"]


def test_namespaces_are_apart_and_listed_together_newest_first(client: TestClient) -> None:
    put(client, "c1", {"a": 1}, {"a": 1})
    put(client, "c2", {"a": 1}, {"a": 1}, ns="child:1")
    assert get(client)["id"] == "c1" and get(client, ns="child:1")["id"] == "c2"
    every = client.get(f"{BASE}/checkpoints", params={"all_ns": "true"}).json()
    assert [(c["ns"], c["id"]) for c in every["checkpoints"]] == [("child:1", "c2"), ("", "c1")]
    one = client.get(f"{BASE}/checkpoints", params={"metadata": '{"step": 2}', "limit": 1})
    assert [c["id"] for c in one.json()["checkpoints"]] == ["c1"]


def test_delete_leaves_a_tombstone_and_takes_the_index(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    put(client, "c1", {"a": 1}, {"a": 1})
    assert client.delete(BASE).status_code == 204
    gone = client.get(f"{BASE}/checkpoint")
    assert gone.status_code == 404
    k = keys.thread_keys("default", "t1")
    with sync_client(str(make_settings().redis_url)) as direct:
        assert direct.exists(k.tombstone) and not direct.exists(*k.checkpoint_index)
    put(client, "c9", {"a": 1}, {"a": 1})  # LangGraph may use the thread_id again
    assert get(client)["id"] == "c9"
    assert [c["id"] for c in client.get(f"{BASE}/checkpoints").json()["checkpoints"]] == ["c9"]


def test_tenants_never_see_each_others_checkpoints(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    _, alice = add_token(path, "alice")
    _, bob = add_token(path, "bob")
    client = make_client(tokens_file=path)
    client.headers["authorization"] = f"Bearer {alice}"
    put(client, "c1", {"a": 1}, {"a": 1})
    client.headers["authorization"] = f"Bearer {bob}"
    assert client.get(f"{BASE}/checkpoint").status_code == 404
    assert client.get(f"{BASE}/checkpoints").json()["checkpoints"] == []
    put(client, "b1", {"a": 1}, {"a": 1})
    client.headers["authorization"] = f"Bearer {alice}"
    assert get(client)["id"] == "c1"


def test_bad_input_is_refused_with_what_to_do(client: TestClient) -> None:
    nul = client.post(f"{BASE}/checkpoints", json={"thread": "x", "id": "c", "ns": "a\u0000b",
                                                   "checkpoint": typed(0)})  # fmt: skip
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    short = client.post(f"{BASE}/checkpoints", json={"thread": "x", "id": "c",
                                                     "checkpoint": ["msgpack"]})  # fmt: skip
    assert short.status_code == 400 and "checkpoint" in short.json()["detail"]
    bad = client.get(f"{BASE}/checkpoints", params={"metadata": "[1]"})
    assert bad.status_code == 400 and "JSON object" in bad.json()["detail"]


def test_a_record_over_the_turn_limit_is_refused_naming_the_setting(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(limits=Limits(max_turn_bytes=2000))
    big = {"thread": "x", "id": "c", "checkpoint": ["msgpack", "A" * 4000]}
    answer = client.post(f"{BASE}/checkpoints", json=big)
    assert answer.status_code == 413 and "THREADKEEPER_MAX_TURN_BYTES" in answer.json()["detail"]
