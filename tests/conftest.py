"""Shared fixtures: a real redis-server for the session, an empty database per test.

And the session-end check that no process started by the tests is left (tests/leaks.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

import leaks
from local_client import local_client
from redis_cluster import RedisCluster, start_cluster
from s3server import S3Server, start_seaweedfs
from threadkeeper.api import create_app
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.settings import Settings


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUBREAPER] = leaks.become_subreaper()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process the tests started is still alive (then kill it)."""
    if not session.config.stash.get(_SUBREAPER, False):
        return
    left = leaks.leaked()
    if not left:
        return
    lines = "\n".join(f"  pid {pid}: {cmd}" for pid, cmd in sorted(left.items()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "processes started by the tests were left running", red=True)
        reporter.write_line(f"{lines}\n(killed now; the run fails)", red=True, bold=True)
    leaks.kill(list(left))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_SUBREAPER = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedRedis]:
    """One real redis-server with the project's redis.conf, on a free loopback port."""
    server = ManagedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3 server (SeaweedFS) on loopback for the session; tests use own prefixes."""
    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A real 3-master Redis Cluster on loopback for the session."""
    with start_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


# The suites that run against both a standalone Redis and the cluster.
BOTH_KINDS = ("test_store.py", "test_indexes.py", "api/", "tiering/", "cli/test_cli_tiering.py",
              "cli/test_cli_threads.py", "cli/test_cli_recover.py", "cli/test_cli_tokens.py",
              "cli/test_cli_export.py", "cli/test_cli_serve.py", "health/", "conversations/",
              "ui/test_console.py", "tests/users/",
              "checkpoints/test_langgraph_core.py", "tests/search/")  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = metafunc.definition.path.as_posix()
    if "redis_kind" in metafunc.fixturenames and any(p in path for p in BOTH_KINDS):
        if not _chose_kind(metafunc):
            metafunc.parametrize("redis_kind", ["standalone", "cluster"], indirect=True)


def _chose_kind(metafunc: pytest.Metafunc) -> bool:
    """A test (or its module) that parametrizes redis_kind itself runs on those kinds only."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "redis_kind" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return True
    return False


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """standalone, or cluster for the suites in BOTH_KINDS (their second run)."""
    return str(getattr(request, "param", "standalone"))


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_kind: str, redis_server: ManagedRedis) -> str:
    """An empty hot store for each test: the standalone Redis, or the cluster."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    if redis_kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return cluster.url
    return redis_server.url


@pytest.fixture
def queue_env(redis_kind: str, redis_server: ManagedRedis) -> dict[str, str]:
    """The environment naming RQ's Redis: needed (standalone) when the hot store is the cluster."""
    return {"THREADKEEPER_QUEUE_REDIS_URL": redis_server.url} if redis_kind == "cluster" else {}


@pytest.fixture
def make_settings(
    tmp_path: Path, redis_url: str, redis_kind: str, redis_server: ManagedRedis
) -> Callable[..., Settings]:
    """Settings for a test: its Redis (and RQ's, standalone), a file archive in tmp_path,
    overrides by keyword."""

    def make(**overrides: object) -> Settings:
        base = Settings(
            redis_url=redis_url,
            queue_redis_url=redis_server.url if redis_kind == "cluster" else None,
            archive_url=(tmp_path / "archive").as_uri(),
            home=tmp_path / "home",
        )
        return base.with_overrides(**overrides)

    return make


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own THREADKEEPER_* environment."""
    for name in list(os.environ):
        if name.startswith("THREADKEEPER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over the real app on the test's Redis; settings overridable by keyword."""
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = local_client(create_app(make_settings(**overrides)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
