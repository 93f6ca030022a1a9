"""GET /v1/health, /readyz and `threadkeeper health` against a real Redis."""

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

from threadkeeper.api.health import readiness_problems
from threadkeeper.cli import main
from threadkeeper.redis_server import ManagedRedis, free_port


def test_report_on_the_project_redis_conf(make_client: MakeClient, redis_url: str) -> None:
    pretend_healthy_workers(redis_url)
    client = make_client()
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok", body["warnings"]
    assert body["warnings"] == []
    assert body["durability"] | {"memory_used_ratio": None, "last_save_at": None,
                                 "changes_since_last_save": None} == {
        "aof": True, "appendfsync": "always", "loss_window": "none", "last_aof_write": "ok",
        "last_aof_rewrite": "ok", "last_bgsave": "ok", "aof_delayed_fsync": 0,
        "loading": False, "eviction_policy": "noeviction", "maxmemory": 0,
        "memory_used_ratio": None, "last_save_at": None, "changes_since_last_save": None,
    }  # fmt: skip
    assert 0 < body["durability"]["memory_used_ratio"] < 1
    server = redis.Redis.from_url(redis_url).info("server")
    assert body["restart"]["redis_run_id"] == server["run_id"]
    assert body["restart"]["data_survived_last_restart"] is None  # no restart seen yet
    assert body["restart"]["canary_armed_at"] is not None
    assert body["redis"]["version"] == server["redis_version"]
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


def test_cache_only_is_degraded_and_says_so(make_client: MakeClient, redis_url: str) -> None:
    pretend_healthy_workers(redis_url)
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
    make_client: MakeClient, own_redis: ManagedRedis, setting: str, value: str, status: str,
    words: str,
) -> None:  # fmt: skip
    pretend_healthy_workers(own_redis.url)
    conn = redis.Redis.from_url(own_redis.url)
    conn.config_set(setting, value)
    body = make_client(redis_url=own_redis.url).get("/v1/health").json()
    assert body["status"] == status
    assert len(body["warnings"]) == 1 and words in body["warnings"][0]


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
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., None]:
    def setenv(redis_url: str, archive: str | None = None) -> None:
        monkeypatch.setenv("THREADKEEPER_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("THREADKEEPER_REDIS_URL", redis_url)
        monkeypatch.setenv("THREADKEEPER_ARCHIVE_URL", archive or (tmp_path / "a").as_uri())

    return setenv


def test_cli_exit_codes(cli_env: Callable[..., None], redis_url: str) -> None:
    cli_env(redis_url)
    runner = CliRunner()
    degraded = runner.invoke(main, ["health", "--json"])
    assert degraded.exit_code == 1, degraded.output
    assert json.loads(degraded.output)["status"] == "degraded"
    pretend_healthy_workers(redis_url)
    ok = runner.invoke(main, ["health"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("status: OK")
    assert "appendfsync=always" in ok.output and "loss_window=none" in ok.output


def test_cli_failing_when_redis_is_down(cli_env: Callable[..., None]) -> None:
    cli_env(f"redis://127.0.0.1:{free_port()}/0")
    result = CliRunner().invoke(main, ["health"])
    assert result.exit_code == 2, result.output
    assert "status: FAILING" in result.output
    assert "redis-check-aof --fix" in result.output
