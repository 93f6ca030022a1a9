"""A real uvicorn serving the whole app on a free loopback port, for the OpenAI SDKs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from threadkeeper.api import create_app
from threadkeeper.redis_server import free_port
from threadkeeper.settings import Settings

START_TIMEOUT = 60


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


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
