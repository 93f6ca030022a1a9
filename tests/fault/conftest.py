"""Fault-injection fixtures: private redis-servers this test may kill, tear or fill."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from threadkeeper.daemon.redis_server import ManagedRedis

MakeRedis = Callable[..., ManagedRedis]


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[MakeRedis]:
    """Factory: a started redis-server with the project conf plus `extra_args`."""
    started: list[ManagedRedis] = []

    def make(*extra_args: str, name: str = "redis") -> ManagedRedis:
        server = ManagedRedis(tmp_path / name, extra_args=list(extra_args)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()
