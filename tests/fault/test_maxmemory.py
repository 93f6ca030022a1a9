"""Redis at maxmemory: appends are refused loudly (507), nothing acknowledged is dropped,
reads keep working, and health says how full Redis is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from local_client import local_client
from threadkeeper.api import create_app
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.settings import Settings
from waiting import wait_for

pytestmark = pytest.mark.fault

ATTEMPTS = 3000
PAD = "x" * 4000


def test_full_redis_refuses_appends_and_keeps_what_it_acknowledged(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_redis("--maxmemory", "3mb")
    settings = Settings(redis_url=server.url, archive_url=(tmp_path / "a").as_uri(),
                        home=tmp_path / "home")  # fmt: skip
    with local_client(create_app(settings)) as client:
        assert client.post("/v1/threads", json={"id": "big", "turns": []}).status_code == 201
        acked: dict[int, str] = {}
        refused: list[tuple[str, dict[str, object]]] = []
        for n in range(ATTEMPTS):
            text = f"{n}:{PAD}"
            turns = {"turns": [{"role": "user", "content": text}]}
            r = client.post(
                "/v1/threads/big/turns", json=turns, headers={"Idempotency-Key": f"k{n}"}
            )
            assert r.status_code in (201, 507), r.text
            if r.status_code == 201:
                acked[r.json()["seqs"][0]] = text
            else:
                refused.append((text, r.json()))
                if len(refused) >= 20:
                    break
        assert refused, "Redis never filled up"
        text, problem = refused[0]
        assert problem["type"].endswith("/store-full") and problem["status"] == 507
        assert "maxmemory" in problem["detail"] and "archive" in problem["detail"]

        # Well over the limit, not at its edge: Redis then refuses anything queued in MULTI.
        admin = redis.Redis.from_url(server.url)
        admin.config_set("maxmemory", "1mb")
        r = client.get("/v1/threads/big", params={"limit": 1000})
        admin.config_set("maxmemory", "3mb")
        admin.close()
        assert r.status_code == 200, r.text  # reads still work
        body = r.json()
        stored = {t["seq"]: t["content"] for t in body["turns"]}
        assert len(body["turns"]) == body["thread"]["turn_count"]
        assert acked, "no append was acknowledged before Redis filled up"
        assert all(stored.get(seq) == text for seq, text in acked.items())  # none dropped
        extra = [t for t in stored.values() if t not in set(acked.values())]
        health = client.get("/v1/health").json()
        assert health["durability"]["maxmemory"] == 3 * 1024 * 1024
        assert health["durability"]["memory_used_ratio"] > 0.9
        assert any("appends fail with 507" in w for w in health["warnings"])
        with capsys.disabled():
            print(f"\n[maxmemory 3mb] acknowledged {len(acked)}, refused {len(refused)}, "
                  f"stored though refused {len(extra)}")  # fmt: skip


def _fill(client: TestClient, thread_id: str) -> None:
    """Append until Redis refuses: it is at maxmemory."""
    for n in range(ATTEMPTS):
        turns = {"turns": [{"role": "user", "content": f"{n}:{PAD}"}]}
        r = client.post(f"/v1/threads/{thread_id}/turns", json=turns)
        assert r.status_code in (201, 507), r.text
        if r.status_code == 507:
            return
    pytest.fail("Redis never filled up")


def test_at_maxmemory_reads_work_deletes_free_memory_and_rehydrate_says_why(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis("--maxmemory", "3mb")
    settings = Settings(redis_url=server.url, archive_url=(tmp_path / "a").as_uri(),
                        home=tmp_path / "home")  # fmt: skip
    admin = redis.Redis.from_url(server.url)
    with local_client(create_app(settings)) as client:
        turn = {"role": "user", "content": "cold"}
        assert client.post("/v1/threads", json={"id": "cold", "turns": [turn]}).status_code == 201
        assert client.post("/v1/threads/cold/archive?wait=true").status_code == 200
        admin.delete("tk:{default:cold}:turns")  # its hot TTL lapsed: only the archive has it
        assert client.post("/v1/threads", json={"id": "idle", "turns": [turn]}).status_code == 201
        admin.hset("tk:{default:idle}:meta", mapping={"touched_at": 1, "updated_at": 1})
        assert client.post("/v1/threads", json={"id": "big"}).status_code == 201
        _fill(client, "big")
        admin.config_set("maxmemory", "1mb")  # well over: every denyoom command is refused
        skipped = metric(client, "threadkeeper_touch_skipped_total")

        idle = client.get("/v1/threads/idle")
        assert idle.status_code == 200, idle.text  # the read's TTL refresh is best-effort
        assert metric(client, "threadkeeper_touch_skipped_total") == skipped + 1
        cold = client.get("/v1/threads/cold")
        assert cold.status_code == 507, cold.text
        assert "archive" in cold.json()["detail"] and "maxmemory" in cold.json()["detail"]
        assert client.delete("/v1/threads/big").status_code == 204  # deleting frees memory
        assert client.get("/v1/threads/big").json()["reason"] == "deleted"
    admin.close()


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("command", ["worker", "cron"])
def test_worker_and_cron_wait_out_a_full_redis_instead_of_exiting(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path, command: str
) -> None:
    server = make_redis("--maxmemory", "1mb")
    admin = redis.Redis.from_url(server.url)
    pad, n = "x" * 10_000, 0
    while True:  # fill it: anything that writes is refused from here on
        try:
            admin.set(f"pad:{n}", pad)
        except redis.exceptions.OutOfMemoryError:
            break
        n += 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    env |= {
        "THREADKEEPER_REDIS_URL": server.url,
        "THREADKEEPER_HOME": str(tmp_path / "home"),
        "THREADKEEPER_ARCHIVE_URL": (tmp_path / "a").as_uri(),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / f"{command}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "threadkeeper", command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def refusals() -> int:
        assert proc.poll() is None, f"{command} exited:\n{log.read_text()[-3000:]}"
        return log.read_text(errors="replace").count("Redis is at maxmemory")

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:]

    try:
        # Refused, waited, tried again and was refused again: it waits rather than exits.
        wait_for(lambda: refusals() >= 2, "a second try at a full Redis", timeout=60, detail=tail)
        admin.config_set("maxmemory", "0")  # memory freed: it carries on
        registered = "rq:workers" if command == "worker" else "rq:cron_schedulers"
        wait_for(lambda: refusals() and admin.exists(registered), f"{command} to register",
                 timeout=120, detail=tail)  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        admin.close()
