"""GET /v1/health, /readyz and `threadkeeper health` against a real Redis, and the cluster.

The cluster's nodes run appendfsync everysec (tests/redis_cluster.py): a one-second
loss window, and Redis 7.0's WAITAOF note on each master.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from health_helpers import MakeClient, pretend_healthy_workers

from redis_cluster import RedisCluster
from threadkeeper.api.health import readiness_problems
from threadkeeper.cli import main
from threadkeeper.daemon.redis_server import ManagedRedis, free_port
from threadkeeper.settings import Settings
from waiting import wait_for

MakeSettings = Callable[..., Settings]
# A Redis nobody listens on: which kind the test's own store is makes no difference.
STANDALONE_ONLY = pytest.mark.parametrize("redis_kind", ["standalone"], indirect=True)


def _servers(request: pytest.FixtureRequest, redis_kind: str, redis_url: str) -> list[redis.Redis]:
    """A plain client of each master: the one Redis, or every master of the cluster."""
    if redis_kind == "standalone":
        return [redis.Redis.from_url(redis_url)]
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return [cluster.client(node) for node in cluster.masters()]


def _fsync(redis_kind: str) -> dict[str, str]:
    if redis_kind == "standalone":
        return {"appendfsync": "always", "loss_window": "none"}
    return {"appendfsync": "everysec", "loss_window": "1s"}


def _only_notes(warnings: list[str], redis_kind: str) -> bool:
    """No warning, but on the cluster the WAITAOF note (Redis 7.0 at everysec)."""
    return all(redis_kind == "cluster" and "WAITAOF" in w for w in warnings)


def test_report_on_the_project_redis_conf(
    make_client: MakeClient, make_settings: MakeSettings, redis_url: str, redis_kind: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    pretend_healthy_workers(make_settings())
    client = make_client()
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok", body["warnings"]
    assert _only_notes(body["warnings"], redis_kind), body["warnings"]
    expected = {
        "aof": True, "last_aof_write": "ok",
        "last_aof_rewrite": "ok", "last_bgsave": "ok", "aof_delayed_fsync": 0,
        "loading": False, "eviction_policy": "noeviction", "maxmemory": 0,
        "memory_used_ratio": None, "last_save_at": None, "changes_since_last_save": None,
    } | _fsync(redis_kind)  # fmt: skip
    unmeasured = {"memory_used_ratio": None, "last_save_at": None, "changes_since_last_save": None}
    assert body["durability"] | unmeasured == expected
    assert 0 < body["durability"]["memory_used_ratio"] < 1
    servers = [s.info("server") for s in _servers(request, redis_kind, redis_url)]
    assert body["restart"]["redis_run_id"] in {s["run_id"] for s in servers}
    assert body["restart"]["data_survived_last_restart"] is None  # no restart seen yet
    assert body["restart"]["canary_armed_at"] is not None
    assert body["redis"]["version"] == servers[0]["redis_version"]
    each = body["masters"]  # one part per master on a cluster, each its own canary
    assert len(each) == (0 if redis_kind == "standalone" else 3), each
    assert {m["restart"]["redis_run_id"] for m in each} <= {s["run_id"] for s in servers}
    assert all(m["status"] == "ok" and m["restart"]["canary_armed_at"] for m in each), each
    assert all(m["durability"]["appendfsync"] == _fsync(redis_kind)["appendfsync"] for m in each)
    assert body["archive"]["reachable"] is True
    assert body["archive"]["url"].startswith("file:///")
    assert body["workers"]["alive"] == 1
    assert body["workers"]["sweeper_lag_s"] == 1.5


def test_no_workers_no_sweeper_is_degraded(client: Any) -> None:
    body = client.get("/v1/health").json()
    assert body["status"] == "degraded"
    assert body["workers"]["alive"] == 0
    assert any("threadkeeper worker" in w for w in body["warnings"])
    assert any("threadkeeper cron" in w for w in body["warnings"])


def test_cache_only_is_degraded_and_says_so(
    make_client: MakeClient, make_settings: MakeSettings
) -> None:
    pretend_healthy_workers(make_settings())
    body = make_client(archive_url="").get("/v1/health").json()
    assert body["status"] == "degraded"
    assert body["archive"] == {"url": None, "reachable": None, "error": None}
    assert [w for w in body["warnings"] if "cache-only" in w]


@pytest.mark.parametrize(
    ("setting", "value", "status", "words"),
    [
        ("appendfsync", "no", "degraded", "appendfsync always"),
        ("appendonly", "no", "degraded", "appendonly yes"),
        ("maxmemory-policy", "allkeys-lru", "failing", "maxmemory-policy noeviction"),
    ],
)
def test_weakened_redis_is_reported(
    make_client: MakeClient, make_settings: MakeSettings, redis_kind: str,
    request: pytest.FixtureRequest, setting: str, value: str, status: str, words: str,
) -> None:  # fmt: skip
    """A private Redis weakened; on the cluster, one master of three (and restored after)."""
    if redis_kind == "standalone":
        own: ManagedRedis = request.getfixturevalue("own_redis")
        settings = make_settings(redis_url=own.url)
        conn = redis.Redis.from_url(own.url)
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        settings = make_settings()
        conn = cluster.client(cluster.masters()[1])
    pretend_healthy_workers(settings)
    before = conn.config_get(setting)[setting]
    conn.config_set(setting, value)
    try:
        body = make_client(redis_url=settings.redis_url).get("/v1/health").json()
    finally:
        conn.config_set(setting, before)
        _wait_no_aof_rewrite(conn)
    assert body["status"] == status
    (warning,) = [w for w in body["warnings"] if "WAITAOF" not in w]
    assert words in warning
    if redis_kind == "cluster":  # only that master has it, and its part says so
        port = conn.connection_pool.connection_kwargs["port"]
        assert warning.startswith(f"master redis://127.0.0.1:{port}: ")
        assert [m["status"] for m in body["masters"]].count(status) == 1, body["masters"]


def _wait_no_aof_rewrite(conn: redis.Redis) -> None:
    """Turning AOF back on rewrites it: let that finish before the next test's report."""

    def done() -> bool:
        state = conn.info("persistence")
        return not (state["aof_rewrite_in_progress"] or state["aof_rewrite_scheduled"])

    wait_for(done, "the AOF rewrite to finish", timeout=60, interval=0.05)
    conn.close()


@STANDALONE_ONLY
def test_unreachable_redis_is_failing_with_the_runbook(make_client: MakeClient) -> None:
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    body = client.get("/v1/health").json()
    assert body["status"] == "failing"
    assert body["redis"]["reachable"] is False
    assert body["durability"]["aof"] is None
    assert any("redis-check-aof --fix" in w and "threadkeeper recover" in w
               for w in body["warnings"])  # fmt: skip
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"][0].startswith("redis:")


def test_readyz(make_client: MakeClient, tmp_path: Path) -> None:
    r = make_client().get("/readyz")
    assert (r.status_code, r.json()) == (200, {"ready": True, "problems": []})
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive dir should be")
    r = make_client(archive_url=(blocker / "archive").as_uri()).get("/readyz")
    assert r.status_code == 503
    (problem,) = r.json()["problems"]
    assert problem.startswith("archive:")


class LoadingRedis:
    async def info(self, section: str) -> dict[str, Any]:
        return {"loading": 1, "loading_loaded_perc": 37.5}


@pytest.mark.anyio
async def test_readiness_says_redis_is_loading() -> None:
    runtime = SimpleNamespace(redis=LoadingRedis(), archive=None)
    problems = await readiness_problems(runtime)  # type: ignore[arg-type]
    assert problems == ["redis: loading its data after a restart (38% done)"]


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, queue_env: dict[str, str]
) -> Callable[..., None]:
    def setenv(redis_url: str, archive: str | None = None) -> None:
        monkeypatch.setenv("THREADKEEPER_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("THREADKEEPER_REDIS_URL", redis_url)
        monkeypatch.setenv("THREADKEEPER_ARCHIVE_URL", archive or (tmp_path / "a").as_uri())
        for name, value in queue_env.items():  # RQ's own Redis, when the store is the cluster
            monkeypatch.setenv(name, value)

    return setenv


def test_cli_exit_codes(
    cli_env: Callable[..., None], redis_url: str, redis_kind: str, make_settings: MakeSettings
) -> None:
    cli_env(redis_url)
    runner = CliRunner()
    degraded = runner.invoke(main, ["health", "--json"])
    assert degraded.exit_code == 1, degraded.output
    assert json.loads(degraded.output)["status"] == "degraded"
    pretend_healthy_workers(make_settings())
    ok = runner.invoke(main, ["health"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("status: OK")
    fsync = _fsync(redis_kind)
    assert f"appendfsync={fsync['appendfsync']}" in ok.output
    assert f"loss_window={fsync['loss_window']}" in ok.output


@STANDALONE_ONLY
def test_cli_failing_when_redis_is_down(cli_env: Callable[..., None]) -> None:
    cli_env(f"redis://127.0.0.1:{free_port()}/0")
    result = CliRunner().invoke(main, ["health"])
    assert result.exit_code == 2, result.output
    assert "status: FAILING" in result.output
    assert "redis-check-aof --fix" in result.output
