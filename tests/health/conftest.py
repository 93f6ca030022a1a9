"""Fixtures for the health, metrics and not-found tests: the app with its metrics middleware,
and a private redis-server for tests that change Redis's config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from health_helpers import MakeClient
from starlette.applications import Starlette
from starlette.testclient import TestClient

from threadkeeper.api import create_app
from threadkeeper.api.health import MetricsMiddleware
from threadkeeper.redis_server import ManagedRedis
from threadkeeper.settings import Settings


def with_metrics(app: Starlette) -> Starlette:
    """The middleware, unless create_app already installs it."""
    if not any(m.cls is MetricsMiddleware for m in app.user_middleware):
        app.add_middleware(MetricsMiddleware)
    return app


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[MakeClient]:
    """A TestClient over the real app (with metrics) on the test's Redis; settings by keyword."""
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(with_metrics(create_app(make_settings(**overrides))))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedRedis]:
    """A private redis-server (project conf) this test may reconfigure or restart."""
    server = ManagedRedis(tmp_path / "own-redis").start()
    yield server
    server.stop()
