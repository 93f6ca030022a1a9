"""Not found, said precisely, through the HTTP API: never stored, deleted, retention, and a
200 that names the missing turns (with the Threadkeeper-Degraded header)."""

from __future__ import annotations

from health_helpers import MakeClient
from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.models import GoneReason
from threadkeeper.store.connection import sync_client
from threadkeeper.store.masters import master_of, masters

TURN = {"role": "user", "content": "hello"}


def create(client: TestClient, thread_id: str, turns: int = 1) -> None:
    body = {"id": thread_id, "turns": [TURN] * turns}
    assert client.post("/v1/threads", json=body).status_code == 201


def test_never_stored(client: TestClient) -> None:
    r = client.get("/v1/threads/nobody")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["reason"] == "never_stored" and body["thread_id"] == "nobody"
    assert "check the id" in body["detail"]
    assert "data_lost_at" not in body  # Redis never lost data here


def test_deleted(client: TestClient) -> None:
    create(client, "d1")
    assert client.delete("/v1/threads/d1").status_code == 204
    for r in (client.get("/v1/threads/d1"), client.post("/v1/threads/d1/turns",
                                                         json={"turns": [TURN]})):  # fmt: skip
        assert r.status_code == 404
        body = r.json()
        assert body["reason"] == "deleted" and body["deleted_at"].endswith("Z")
        assert "deleted by request at " + body["deleted_at"] in body["detail"]


def test_removed_by_retention(client: TestClient) -> None:
    create(client, "r1")
    service = client.app.state.service  # type: ignore[attr-defined]
    client.portal.call(service.delete, "default", "r1", GoneReason.RETENTION)  # type: ignore[union-attr]
    body = client.get("/v1/threads/r1").json()
    assert body["status"] == 404 and body["reason"] == "retention"
    assert "by the retention policy" in body["detail"]


def _delete(url: str, key: str) -> None:
    with sync_client(url) as conn:
        conn.delete(key)


def test_turns_lost_and_never_archived(client: TestClient, redis_url: str) -> None:
    create(client, "l1", turns=3)
    _delete(redis_url, keys.thread_keys("default", "l1").turns)
    r = client.get("/v1/threads/l1")
    assert r.status_code == 200
    assert r.headers["threadkeeper-degraded"] == "missing-turns=1-3"
    body = r.json()
    assert body["missing_turns"] == [1, 3] and body["turns"] == []
    assert "never received a snapshot" in body["detail"]


def test_turns_lost_with_the_archive_behind(client: TestClient, redis_url: str) -> None:
    create(client, "b1", turns=2)
    archiver = client.app.state.runtime.tiering.archiver  # type: ignore[attr-defined]
    assert client.portal.call(archiver.archive_thread, "default", "b1") == "archived"  # type: ignore[union-attr]
    r = client.post("/v1/threads/b1/turns", json={"turns": [TURN, TURN]})
    assert r.status_code == 201
    _delete(redis_url, keys.thread_keys("default", "b1").turns)
    r = client.get("/v1/threads/b1")
    assert r.status_code == 200
    assert r.headers["threadkeeper-degraded"] == "missing-turns=3-4"
    assert r.headers["threadkeeper-source"] == "archive"
    body = r.json()
    assert [t["seq"] for t in body["turns"]] == [1, 2]
    assert body["missing_turns"] == [3, 4]
    assert "the archive holds version 1" in body["detail"]


def test_restart_without_data_is_explained(make_client: MakeClient, redis_kind: str) -> None:
    """The canary's verdict reaches the 404 (the real restart is in tests/fault)."""
    client = make_client()
    create(client, "x1")
    lost = {"data_survived": "0", "last_restart_at": 1_700_000_000_000,
            "data_lost_at": 1_700_000_000_000}  # fmt: skip
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def mark_every_master() -> None:  # one canary per master on the cluster
        for master in await masters(runtime.redis):
            await master.client.hset(master.canary_key, mapping=lost)

    client.portal.call(mark_every_master)  # type: ignore[union-attr]
    body = client.get("/v1/threads/gone-in-restart").json()
    assert body["reason"] == "never_stored"
    assert body["data_lost_at"] == "2023-11-14T22:13:20.000Z"
    assert "restarted at 2023-11-14T22:13:20.000Z WITHOUT its data" in body["detail"]
    if redis_kind == "standalone":
        assert "Redis restarted at" in body["detail"] and "data_lost_on" not in body
    else:
        assert f"Redis master {body['data_lost_on']}, which serves" in body["detail"]


def test_only_the_master_that_lost_its_data_marks_its_threads(
    client: TestClient, redis_kind: str
) -> None:
    """One master's canary says it restarted empty: only ids whose slot it serves say so."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def mark_one_master() -> tuple[str, str, str]:
        lost, kept = await _ids_on_two_masters(runtime.redis)
        master = await master_of(runtime.redis, keys.thread_keys("default", lost).tag)
        await master.client.hset(master.canary_key, mapping={
            "data_survived": "0", "last_restart_at": 1_700_000_000_000,
            "data_lost_at": 1_700_000_000_000})  # fmt: skip
        return lost, kept, master.address

    lost, kept, address = client.portal.call(mark_one_master)  # type: ignore[union-attr]
    on_lost = client.get(f"/v1/threads/{lost}").json()
    assert on_lost["data_lost_at"] == "2023-11-14T22:13:20.000Z"
    on_kept = client.get(f"/v1/threads/{kept}").json()
    if redis_kind == "standalone":  # one Redis: every id was on the one that lost its data
        assert on_kept["data_lost_at"] == on_lost["data_lost_at"]
        assert "data_lost_on" not in on_lost
    else:
        assert on_lost["data_lost_on"] == address
        assert "data_lost_at" not in on_kept and "data_lost_on" not in on_kept
        assert "check the id" in on_kept["detail"]


async def _ids_on_two_masters(redis: object) -> tuple[str, str]:
    """Two ids whose slots different masters serve (the same one on a standalone Redis)."""
    first = await master_of(redis, keys.thread_keys("default", "id0").tag)
    for n in range(1, 1000):
        other = await master_of(redis, keys.thread_keys("default", f"id{n}").tag)
        if other.address != first.address or not first.address:
            return "id0", f"id{n}"
    raise AssertionError("every id landed on one master")
