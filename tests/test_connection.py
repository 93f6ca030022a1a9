"""Redis errors translated once: a refusal that sent nothing, told from an unknown outcome."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis.asyncio

from threadkeeper.connection import redis_errors
from threadkeeper.errors import StoreOutcomeUnknown, StoreUnavailable
from threadkeeper.redis_server import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def swallowing_server() -> Iterator[int]:
    """A server that takes each command, then drops the connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(5)


async def _fail(port: int) -> StoreUnavailable:
    client = redis.asyncio.Redis(port=port, socket_connect_timeout=2, socket_timeout=2)
    try:
        with pytest.raises(StoreUnavailable) as caught, redis_errors():
            await client.set("k", "v")
    finally:
        await client.aclose()
    return caught.value


async def test_a_refused_connection_certainly_stored_nothing() -> None:
    error = await _fail(free_port())  # nothing listens there
    assert not isinstance(error, StoreOutcomeUnknown)
    assert error.extra["outcome"] == "not_stored" and "nothing was stored" in error.detail


async def test_a_dropped_reply_says_the_write_may_have_been_stored(swallowing_server: int) -> None:
    error = await _fail(swallowing_server)
    assert isinstance(error, StoreOutcomeUnknown) and error.status == 503
    assert error.problem()["type"].endswith("/store-outcome-unknown")
    assert error.extra["outcome"] == "unknown" and "may have been stored" in error.detail
