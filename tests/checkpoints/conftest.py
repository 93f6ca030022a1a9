"""Fixtures for the LangGraph checkpointer: a live daemon (the app under uvicorn)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from live_server import LiveServer
from threadkeeper.settings import Settings


@pytest.fixture
def live(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    server = LiveServer(make_settings()).start()
    yield server
    server.stop()
