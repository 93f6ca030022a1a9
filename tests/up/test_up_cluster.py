"""Black box: the whole daemon (`up`: API, worker, cron) on a 3-master Redis Cluster.

`up` with THREADKEEPER_REDIS_URL naming a cluster node starts no redis-server of
its own; RQ's queue is the standalone test Redis (THREADKEEPER_QUEUE_REDIS_URL).
The CLI finds the daemon's Redis and archive by --home (run.json), as a user's would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import redis

from daemon_support import Daemon, clean_env
from redis_cluster import RedisCluster
from threadkeeper import keys
from threadkeeper.daemon.redis_server import ManagedRedis

THREADS = 45
CLI_TIMEOUT = 300


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "threadkeeper", *args], env=env, capture_output=True,
        text=True, timeout=CLI_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, f"threadkeeper {args}: {result.stdout}\n{result.stderr}"
    return result


def _empty(cluster: RedisCluster, master: ManagedRedis) -> bool:
    with cluster.client(master) as conn:
        return int(conn.dbsize()) == 0


def _all_turns(http: httpx.Client, thread_id: str) -> list[Any]:
    answer = http.get(f"/v1/threads/{thread_id}?limit=1000")
    assert answer.status_code == 200, (thread_id, answer.text)
    body = answer.json()
    assert body.get("next") is None
    return list(body["turns"])


def _round_trip(http: httpx.Client) -> None:
    created = http.post("/v1/threads", json={"id": "rt", "turns": [
        {"role": "user", "content": "q1"}]})  # fmt: skip
    assert created.status_code == 201, created.text
    body = {"turns": [{"role": "assistant", "content": "a2"}]}
    first = http.post("/v1/threads/rt/turns", json=body, headers={"Idempotency-Key": "k2"})
    again = http.post("/v1/threads/rt/turns", json=body, headers={"Idempotency-Key": "k2"})
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert first.json() == again.json() == {"seqs": [2], "version": 2}
    assert [t["content"] for t in _all_turns(http, "rt")] == ["q1", "a2"]
    assert http.delete("/v1/threads/rt").status_code == 204


def _seed(http: httpx.Client, ids: list[str]) -> None:
    for i, thread_id in enumerate(ids):
        turns = [{"role": "user", "content": f"{thread_id} turn {n}"} for n in range(1 + i % 4)]
        created = http.post("/v1/threads", json={"id": thread_id, "turns": turns})
        assert created.status_code == 201, created.text
        more = {"turns": [{"role": "assistant", "content": f"{thread_id} answer"}]}
        appended = http.post(f"/v1/threads/{thread_id}/turns", json=more)
        assert appended.status_code == 201, appended.text


def test_up_on_the_cluster_archives_loses_every_master_and_recovers_turn_for_turn(
    make_daemon: Callable[..., Daemon], redis_cluster: RedisCluster,
    redis_server: ManagedRedis,
) -> None:  # fmt: skip
    redis_cluster.flush()
    with redis.Redis.from_url(redis_server.url) as queue_redis:
        queue_redis.flushall()
    queue = {"THREADKEEPER_QUEUE_REDIS_URL": redis_server.url}
    daemon = make_daemon().start(env=clean_env(THREADKEEPER_REDIS_URL=redis_cluster.url, **queue))
    assert "redis-server" not in daemon.tree()  # the cluster is the store: no Redis of its own
    assert daemon.redis_url() == redis_cluster.url
    http = daemon.client()
    _round_trip(http)

    ids = [f"c{i:02d}" for i in range(THREADS)]
    metas = [keys.thread_keys("default", t).meta for t in ids]
    assert set(redis_cluster.master_ports(metas)) == {m.port for m in redis_cluster.masters()}
    _seed(http, ids)
    before = {t: _all_turns(http, t) for t in ids}

    # The CLI without THREADKEEPER_REDIS_URL: it takes the running daemon's, by --home.
    cli_env = clean_env(**queue)
    home = str(daemon.home)
    _cli(cli_env, "archive", "--all", "--wait", "--home", home)
    redis_cluster.flush()  # FLUSHALL on every master
    assert all(_empty(redis_cluster, m) for m in redis_cluster.masters())
    report = json.loads(_cli(cli_env, "recover", "--json", "--home", home).stdout)
    assert report["counts"] == {"restored": THREADS, "tombstoned": 1}, report  # rt stays deleted

    assert {t: _all_turns(http, t) for t in ids} == before
    listed = http.get("/v1/threads?limit=100").json()["threads"]
    assert sorted(t["id"] for t in listed) == ids
    assert http.get("/v1/threads/rt").json()["reason"] == "deleted"
    assert daemon.stop() == 0
    daemon.assert_tree_gone()
