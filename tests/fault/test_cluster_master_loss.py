"""One master of a 3-master cluster restarts without its data; the other two keep theirs.

A cluster of this test's own (its nodes are stopped and restarted). The victim is
stopped by pid, its AOF and RDB removed, and started again on the same port with
its nodes.conf, so it rejoins serving the same slots, empty. A second master
restarts with its data, the third is left alone. Health reports each master's
verdict; only threads whose slot the victim serves get the "lost in that restart"
note, naming it; `recover` brings back the archived ones.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis.crc import key_slot
from test_restart_survival import wait_ready

from local_client import local_client
from redis_cluster import RedisCluster, start_cluster
from threadkeeper import keys
from threadkeeper.api import create_app
from threadkeeper.cli import main
from threadkeeper.client import ThreadNotFound
from threadkeeper.client._errors import error_from_problem
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.settings import Settings
from waiting import wait_for

pytestmark = [
    pytest.mark.fault,
    pytest.mark.timeout(300),
    # redis-py's cluster client drops its connections to the restarted masters unclosed.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

THREADS = 30
TURN = {"role": "user", "content": "hi"}


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """3 masters with a replica each and a short node timeout: one master is killed."""
    with start_cluster(tmp_path / "cluster", masters=3, replicas=1, node_timeout_ms=1000) as c:
        yield c


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """3 masters of this test alone: two of them are restarted."""
    with start_cluster(tmp_path / "cluster", masters=3) as cluster:
        yield cluster


def _restart_empty(node: ManagedRedis) -> None:
    """Stop by pid, drop the data (AOF dir, RDB), keep nodes.conf, start on the same port."""
    node.stop()
    shutil.rmtree(node.data_dir / "appendonly")
    (node.data_dir / "threadkeeper.rdb").unlink(missing_ok=True)
    assert (node.data_dir / "nodes.conf").exists()
    node.start()


def _owner(cluster: RedisCluster, thread_id: str) -> int:
    """The port of the master serving the thread's slot (as a live node sees it)."""
    with cluster.client(cluster.live()[0]) as conn:
        ranges = conn.execute_command("CLUSTER", "SLOTS")
    slot = key_slot(keys.thread_keys("default", thread_id).tag.encode())
    return next(int(r[2][1]) for r in ranges if int(r[0]) <= slot <= int(r[1]))


def _never_created_on(cluster: RedisCluster, port: int) -> str:
    return next(f"nobody-{n}" for n in range(10_000) if _owner(cluster, f"nobody-{n}") == port)


def _by_master(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["url"]: m["restart"] for m in report["masters"]}


def _env(
    cluster: RedisCluster, queue: ManagedRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The daemon's settings, also in the environment for the CLI."""
    env = {"THREADKEEPER_REDIS_URL": cluster.url,
           "THREADKEEPER_QUEUE_REDIS_URL": queue.url,
           "THREADKEEPER_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
           "THREADKEEPER_HOME": str(tmp_path / "home")}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _cli(*args: str, code: int) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.stdout + result.stderr
    return result.stdout


def test_one_master_restarted_without_its_data(
    own_cluster: RedisCluster,
    redis_server: ManagedRedis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _env(own_cluster, redis_server, tmp_path, monkeypatch)
    victim, kept, untouched = own_cluster.masters()
    url = {node.port: f"redis://127.0.0.1:{node.port}" for node in (victim, kept, untouched)}
    ids = [f"t{i}" for i in range(THREADS)]
    owner = {thread_id: _owner(own_cluster, thread_id) for thread_id in ids}
    assert set(owner.values()) == set(url)  # spread over all three masters
    on_victim = [t for t in ids if owner[t] == victim.port]
    archived = on_victim[::2]
    turns = [{"role": "user", "content": "kept in the archive"}]

    with local_client(create_app(Settings.from_env(env))) as client:
        client.get("/v1/health")  # arms every canary (the lifespan did too)
        for thread_id in ids:
            created = client.post("/v1/threads", json={"id": thread_id, "turns": turns})
            assert created.status_code == 201, created.text
        for thread_id in archived:
            assert client.post(f"/v1/threads/{thread_id}/archive?wait=true").status_code == 200

        _restart_empty(victim)
        kept.restart()  # SIGTERM: the AOF is flushed, the data kept
        own_cluster.wait_ok()
        wait_ready(client)

        health = client.get("/v1/health").json()
        restarts = _by_master(health)
        assert restarts[url[victim.port]]["data_survived_last_restart"] is False
        lost_at = restarts[url[victim.port]]["data_lost_at"]
        assert lost_at is not None
        assert restarts[url[kept.port]]["data_survived_last_restart"] is True
        assert restarts[url[untouched.port]]["data_survived_last_restart"] is None  # no restart
        assert restarts[url[kept.port]]["data_lost_at"] is None
        assert restarts[url[untouched.port]]["data_lost_at"] is None
        assert health["status"] == "failing"  # until recover runs, or the loss is acknowledged
        assert any(w.startswith(f"master {url[victim.port]}: Redis restarted at {lost_at} "
                                "WITHOUT its data") for w in health["warnings"])  # fmt: skip

        for thread_id in set(on_victim) - set(archived):
            problem = client.get(f"/v1/threads/{thread_id}").json()
            assert problem["status"] == 404 and problem["reason"] == "never_stored"
            assert problem["data_lost_at"] == lost_at
            assert problem["data_lost_on"] == f"127.0.0.1:{victim.port}"
            err = error_from_problem(404, problem, write=False)  # what the client raises
            assert isinstance(err, ThreadNotFound) and err.reason == "lost"
            assert err.data_lost_on == f"127.0.0.1:{victim.port}"
            assert (f"Redis master 127.0.0.1:{victim.port}, which serves this thread's slot, "
                    f"restarted at {lost_at} WITHOUT its data") in problem["detail"]  # fmt: skip
        for survivor in (kept, untouched):
            nobody = _never_created_on(own_cluster, survivor.port)
            problem = client.get(f"/v1/threads/{nobody}").json()
            assert problem["status"] == 404 and problem["reason"] == "never_stored"
            assert "check the id" in problem["detail"], problem
            assert "data_lost_at" not in problem and "data_lost_on" not in problem
        for thread_id in ids:
            if owner[thread_id] != victim.port:
                assert client.get(f"/v1/threads/{thread_id}").status_code == 200

    # A new process reads the same verdicts from each master's canary.
    shown = json.loads(_cli("health", "--json", code=2))
    assert _by_master(shown) == _by_master(health)
    text = _cli("health", code=2)
    assert f"master {url[victim.port]}: failing, " in text
    assert f"data_survived_last_restart=no, data_lost_at={lost_at}" in text

    _cli("recover", "--json", code=0)
    settled = _by_master(json.loads(_cli("health", "--json", code=1)))[url[victim.port]]
    assert settled["data_lost_at"] == lost_at and settled["data_loss_settled_by"] == "recover"
    with local_client(create_app(Settings.from_env(env))) as client:
        for thread_id in archived:
            read = client.get(f"/v1/threads/{thread_id}").json()
            assert [t["content"] for t in read["turns"]] == ["kept in the archive"]
            assert read["thread"]["possibly_missing"]["lost_at"] == lost_at
        for thread_id in set(on_victim) - set(archived):
            assert client.get(f"/v1/threads/{thread_id}").json()["data_lost_at"] == lost_at


def test_a_failover_keeps_the_data_and_marks_no_thread(
    replicated_cluster: RedisCluster,
    redis_server: ManagedRedis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kill -9 of a master: its replica, holding the replicated canary, says the data survived."""
    cluster = replicated_cluster
    env = _env(cluster, redis_server, tmp_path, monkeypatch)
    victim = cluster.masters()[0]
    ids = [f"t{i}" for i in range(THREADS)]
    on_victim = [t for t in ids if _owner(cluster, t) == victim.port]
    with local_client(create_app(Settings.from_env(env))) as client:
        client.get("/v1/health")  # arms every canary
        for thread_id in ids:
            assert client.post("/v1/threads", json={"id": thread_id, "turns": [TURN]}).is_success
        with cluster.client(victim) as conn:
            assert conn.execute_command("WAIT", 1, 10_000) == 1  # its replica holds it all
        victim.kill()
        _wait_taken_over(cluster, on_victim[0], victim.port)
        wait_ready(client)

        promoted = _owner(cluster, on_victim[0])
        restarts = _by_master(client.get("/v1/health").json())
        assert restarts[f"redis://127.0.0.1:{promoted}"]["data_survived_last_restart"] is True
        assert all(r["data_lost_at"] is None for r in restarts.values()), restarts
        for thread_id in on_victim:
            assert client.get(f"/v1/threads/{thread_id}").status_code == 200
        problem = client.get(f"/v1/threads/{_never_created_on(cluster, promoted)}").json()
        assert "check the id" in problem["detail"] and "data_lost_at" not in problem


def _wait_taken_over(cluster: RedisCluster, thread_id: str, old_port: int) -> None:
    """Until another node serves the thread's slot and the cluster is ok again."""
    wait_for(lambda: _owner(cluster, thread_id) != old_port, "a replica to take over", timeout=90)
    cluster.wait_ok()
