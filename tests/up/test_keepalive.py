"""Keep-alive connections to `up` answer without waiting for the client's delayed ACK.

Without TCP_NODELAY on an accepted connection, a response written in two pieces
(headers, then body) waits ~40 ms for the client's delayed ACK, on every request
of that connection. A request to a local `up` takes 1-3 ms; the bound sits far
from both, so the test does not hang on the machine's speed.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Callable

import httpx
import pytest

from daemon_support import Daemon, clean_env
from threadkeeper.daemon.serving import bind_api
from threadkeeper.settings import Settings

CONNECTIONS = 8
REQUESTS = 15
STALL_BOUND = 0.030  # seconds: a stalled request takes >= 0.040 (44 ms here); a normal one
# 1-3 ms on a quiet machine, 5-16 ms under `make test` on a busy one


def _median_per_connection(daemon: Daemon, path: str) -> list[float]:
    medians = []
    for _ in range(CONNECTIONS):
        with httpx.Client(base_url=daemon.base, timeout=30) as http:
            took = []
            for _ in range(REQUESTS):
                start = time.perf_counter()
                assert http.get(path).status_code == 200
                took.append(time.perf_counter() - start)
        medians.append(statistics.median(took))
    return medians


@pytest.mark.parametrize("processes", ["1", "2"])
def test_every_keepalive_connection_answers_without_the_delayed_ack_stall(
    make_daemon: Callable[..., Daemon], processes: str
) -> None:
    daemon = make_daemon().start(env=clean_env(THREADKEEPER_API_PROCESSES=processes))
    turns = [{"role": "user", "content": f"turn {i}"} for i in range(20)]
    created = daemon.client().post("/v1/threads", json={"id": "kept", "turns": turns})
    assert created.status_code == 201

    medians = _median_per_connection(daemon, "/v1/threads/kept")
    stalled = [round(m * 1000, 1) for m in medians if m > STALL_BOUND]
    assert not stalled, f"connections stalled (ms, median of {REQUESTS}): {stalled}"


def test_the_api_socket_gives_every_accepted_connection_tcp_nodelay() -> None:
    """What `serve` binds too: asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets."""
    sock = bind_api(Settings.from_env({}).with_overrides(host="127.0.0.1", port=0))
    seen: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY))  # fmt: skip
        writer.close()

    async def connect_once() -> None:
        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(connect_once())
    assert seen and seen[0] != 0
