"""Fixtures for the client tests: a live daemon per test over the session's Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from client_live import LiveServer, Serve

from threadkeeper.settings import Settings


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Serve]:
    """Start the app on a free port (settings overridden by keyword); stopped after the test."""
    started: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        started.append(LiveServer(make_settings(**overrides)).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live(serve: Serve) -> LiveServer:
    return serve()
