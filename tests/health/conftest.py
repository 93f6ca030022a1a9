"""Fixtures for the health, metrics and not-found tests: a private redis-server for tests
that change Redis's config (make_client and client come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from threadkeeper.daemon.redis_server import ManagedRedis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedRedis]:
    """A private redis-server (project conf) this test may reconfigure or restart."""
    server = ManagedRedis(tmp_path / "own-redis").start()
    yield server
    server.stop()
