"""Fixtures for the MCP server: a live daemon per test, and a client over each transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from mcp_support import Connect, over_http, over_stdio

from live_server import LiveServer
from search_support import index_now
from threadkeeper.settings import Settings


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    """Start the whole app on a free port (settings by keyword); stopped after the test.

    The search index is built (empty) first, so `search` is full text: a test indexes
    what it writes with `index_now(live.settings)` (no indexer runs). `indexed=False`
    leaves it unbuilt: /v1/search answers 503 search-unavailable."""
    started: list[LiveServer] = []

    def start(*, indexed: bool = True, **overrides: object) -> LiveServer:
        settings = make_settings(**overrides)
        if indexed:
            index_now(settings)
        started.append(LiveServer(settings).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve()


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest) -> Connect:
    """The SDK's client session to a daemon's URL (with a token), over each transport."""
    return over_stdio if request.param == "stdio" else over_http  # type: ignore[return-value]
