"""Redis restarts with and without persistence: the canary's verdict, in health and in 404s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from local_client import local_client
from threadkeeper.api import create_app
from threadkeeper.api.health import MetricsMiddleware
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.settings import Settings
from waiting import wait_for

pytestmark = pytest.mark.fault

TURN = {"role": "user", "content": "remember me"}


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    """Poll /readyz until it answers 200 three times running (a restarted Redis is back)."""
    answers: list[int] = []

    def ready_three_times() -> bool:
        answers.append(client.get("/readyz").status_code)
        return answers[-3:] == [200, 200, 200]

    wait_for(ready_three_times, "/readyz to answer 200 three times running", timeout=timeout,
             interval=0.05, detail=lambda: str(client.get("/readyz").json()))  # fmt: skip


def app_client(url: str, tmp_path: Path) -> TestClient:
    settings = Settings(redis_url=url, archive_url=(tmp_path / "archive").as_uri(),
                        home=tmp_path / "home")  # fmt: skip
    app = create_app(settings)
    app.add_middleware(MetricsMiddleware)
    return local_client(app)


def test_restart_without_persistence_is_seen_and_explained(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis("--appendonly", "no", "--save", "")
    with app_client(server.url, tmp_path) as client:
        before = client.get("/v1/health").json()  # arms the canary
        assert before["restart"]["data_survived_last_restart"] is None
        assert before["durability"]["aof"] is False
        assert before["durability"]["loss_window"] == "all-since-last-save"
        assert client.post("/v1/threads", json={"id": "lost", "turns": [TURN]}).status_code == 201

        server.restart()
        wait_ready(client)

        r = client.get("/v1/threads/lost")
        assert r.status_code == 404
        problem = r.json()
        assert problem["reason"] == "never_stored"
        after = client.get("/v1/health").json()
        restart = after["restart"]
        assert restart["redis_run_id"] != before["restart"]["redis_run_id"]
        assert restart["data_survived_last_restart"] is False
        assert restart["last_restart_at"] is not None
        assert restart["data_lost_at"] == restart["last_restart_at"]
        assert problem["data_lost_at"] == restart["last_restart_at"]
        assert (
            f"Redis restarted at {restart['last_restart_at']} WITHOUT its data" in problem["detail"]
        )
        assert after["status"] == "failing"  # until recover runs, or the loss is acknowledged
        assert any("WITHOUT its data" in w for w in after["warnings"])
        assert any("appendonly yes" in w for w in after["warnings"])

    # A new process (no memory of the old run_id) reads the same verdict from Redis.
    with app_client(server.url, tmp_path) as fresh:
        again = fresh.get("/v1/health").json()["restart"]
        assert again["data_survived_last_restart"] is False
        assert again["last_restart_at"] == restart["last_restart_at"]


def test_restart_with_aof_keeps_the_data(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis()
    with app_client(server.url, tmp_path) as client:
        first = client.get("/v1/health").json()["restart"]
        assert client.post("/v1/threads", json={"id": "kept", "turns": [TURN]}).status_code == 201
        server.kill()  # a crash, not a clean shutdown
        server.start()
        wait_ready(client)
        r = client.get("/v1/threads/kept")
        assert r.status_code == 200 and r.json()["turns"][0]["content"] == "remember me"
        restart = client.get("/v1/health").json()["restart"]
        assert restart["redis_run_id"] != first["redis_run_id"]
        assert restart["data_survived_last_restart"] is True
        assert restart["data_lost_at"] is None
        conn = redis.Redis.from_url(server.url)
        assert conn.hget("tk:canary", "run_id").decode() == restart["redis_run_id"]


def test_first_request_after_a_restart_is_retried(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis()
    with app_client(server.url, tmp_path) as client:
        assert client.post("/v1/threads", json={"id": "r", "turns": [TURN]}).status_code == 201
        server.restart()
        assert client.get("/v1/threads/r").status_code == 200


def test_a_thread_recovered_from_a_snapshot_older_than_a_loss_is_marked(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    """Turns 4-5 were acknowledged after the snapshot, then Redis lost everything."""
    server = make_redis("--appendonly", "no", "--save", "")
    with app_client(server.url, tmp_path) as client:
        client.get("/v1/health")  # arms the canary
        turns = [{"role": "user", "content": f"t{i}"} for i in (1, 2, 3)]
        assert client.post("/v1/threads", json={"id": "b", "turns": turns}).status_code == 201
        assert client.post("/v1/threads/b/archive?wait=true").status_code == 200
        for i in (4, 5):
            more = {"turns": [{"role": "user", "content": f"t{i}"}]}
            assert client.post("/v1/threads/b/turns", json=more).status_code == 201

        server.kill()  # a crash without persistence: turns 4-5 are gone
        server.start()
        wait_ready(client)
        lost_at = client.get("/v1/health").json()["restart"]["data_lost_at"]
        assert lost_at is not None

        r = client.get("/v1/threads/b")
        assert r.status_code == 200
        assert [t["seq"] for t in r.json()["turns"]] == [1, 2, 3]
        assert r.headers["Threadkeeper-Degraded"] == "possibly-missing-after=3"
        marker = r.json()["thread"]["possibly_missing"]
        assert marker["after_seq"] == 3 and marker["lost_at"] == lost_at
        assert "may be missing" in marker["detail"]

        # It stays: after an append, in the next snapshot, and read back from it.
        after = {"turns": [{"role": "user", "content": "after the loss"}]}
        assert client.post("/v1/threads/b/turns", json=after).json()["seqs"] == [4]
        assert client.get("/v1/threads/b").json()["thread"]["possibly_missing"] == marker
        assert client.post("/v1/threads/b/archive?wait=true").status_code == 200
        conn = redis.Redis.from_url(server.url)
        conn.delete("tk:{default:b}:turns")  # the hot TTL's lapse
        cold = client.get("/v1/threads/b")
        assert cold.headers["Threadkeeper-Source"] == "archive"
        assert cold.json()["thread"]["possibly_missing"] == marker
        assert client.get("/v1/threads").json()["threads"][0]["possibly_missing"] == marker


def test_a_thread_whose_snapshot_postdates_no_loss_is_not_marked(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis()
    with app_client(server.url, tmp_path) as client:
        client.get("/v1/health")
        assert client.post("/v1/threads", json={"id": "c", "turns": [TURN]}).status_code == 201
        assert client.post("/v1/threads/c/archive?wait=true").status_code == 200
        server.kill()
        server.start()  # with its AOF: nothing lost
        wait_ready(client)
        r = client.get("/v1/threads/c")
        assert "Threadkeeper-Degraded" not in r.headers
        assert r.json()["thread"].get("possibly_missing") is None
