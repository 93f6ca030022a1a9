"""A body that never arrives in full: 408 after THREADKEEPER_BODY_TIMEOUT, connection freed."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from live_server import LiveServer
from threadkeeper.settings import Settings


@pytest.fixture
def server_port(make_settings: Callable[..., Settings]) -> Iterator[int]:
    """The real app under a real uvicorn, in a thread, with a 1 s body timeout."""
    server = LiveServer(make_settings(body_timeout=1.0)).start()
    yield server.port
    server.stop()


def test_a_body_shorter_than_its_content_length_is_answered_408(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port), timeout=20) as conn:
        conn.sendall(
            b"POST /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"id": "slow"'
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)  # the old code never answered: this timed out
            assert chunk, "connection closed without an answer"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer
        while chunk:  # the rest of the problem, then the server closes the connection
            chunk = conn.recv(65536)
            answer += chunk
        assert b"/body-timeout" in answer and b"THREADKEEPER_BODY_TIMEOUT" in answer
