"""How up and serve run the app: one send per response, uvloop's event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import uvloop

from threadkeeper.daemon import serving


class Recorder:
    """A transport that records each write it is asked for."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, lines: list[bytes]) -> None:
        self.writes.append(b"".join(lines))  # one writev on uvloop: one send

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


def test_what_one_loop_turn_writes_leaves_as_one_write() -> None:
    async def respond() -> tuple[list[bytes], list[bytes]]:
        inner = Recorder()
        transport = serving._CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b'{"ok":true}')
        during = list(inner.writes)
        await asyncio.sleep(0)
        return during, inner.writes

    during, after = asyncio.run(respond())
    assert during == []
    assert after == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']


def test_closing_sends_what_is_pending_first() -> None:
    async def respond_and_close() -> Recorder:
        inner = Recorder()
        transport = serving._CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        transport.close()
        await asyncio.sleep(0)
        return inner

    inner = asyncio.run(respond_and_close())
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and inner.closed


def test_everything_else_is_the_real_transport() -> None:
    async def sockname() -> Any:
        transport = serving._CoalescingTransport(Recorder(), asyncio.get_running_loop())  # type: ignore[arg-type]
        return transport.get_extra_info("sockname")

    assert asyncio.run(sockname()) == ("127.0.0.1", 8000)


def test_run_uses_uvloop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert serving.run(loop_type()) is uvloop.Loop
