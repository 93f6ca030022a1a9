"""A real uvicorn serving the whole app on a free loopback port, for the OpenAI SDKs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from live_server import LiveServer
from threadkeeper.settings import Settings


@pytest.fixture
def make_live(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., str]]:
    """Factory: the API at this test's Redis and file archive, settings overridable by
    keyword; it answers the URL (`<url>/v1` is the SDK's base_url)."""
    started: list[LiveServer] = []

    def make(**overrides: object) -> str:
        started.append(LiveServer(make_settings(**overrides)).start())
        return started[-1].url

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def live_url(make_live: Callable[..., str]) -> str:
    return make_live()
