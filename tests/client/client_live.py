"""A real daemon for client tests: the app under uvicorn on a free loopback port, and a proxy
in front of it that can lose answers or answer for it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from live_server import HOST, LiveServer

__all__ = ["HOST", "LiveServer", "LossyProxy", "Serve"]


Serve = Callable[..., LiveServer]  # the `serve` fixture: start one, settings by keyword


class LossyProxy:
    """Forwards HTTP connections to `target_port`, but for the first `drop` requests lets the
    server answer and then cuts the connection before the answer reaches the client (after
    `stall` seconds: a timeout), and answers the first `times` requests itself with `canned`
    (e.g. a 429) without forwarding them."""

    def __init__(
        self, target_port: int, *, drop: int = 0, canned: bytes = b"", times: int = 0,
        stall: float = 0.0,
    ) -> None:  # fmt: skip
        self.target = (HOST, target_port)
        self.drop, self.canned, self.times = drop, canned, times
        self.stall = stall  # with drop: hold the answer this long before cutting
        self.forwarded = 0
        self._lock = threading.Lock()
        self._server = socket.create_server((HOST, 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        with suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            with self._lock:
                answer_here = self.times > 0
                self.times -= answer_here
                drop = not answer_here and self.drop > 0
                self.drop -= drop
            if answer_here:
                _read_request(client)
                client.sendall(self.canned)
                return
            with socket.create_connection(self.target, timeout=30) as upstream:
                upstream.sendall(_read_request(client))
                with self._lock:
                    self.forwarded += 1
                _relay_answer(upstream, client, drop, self.stall if drop else 0.0)


def _read_request(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 request (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += sock.recv(65536)
    # One request per connection: the relay below ends with the server's answer.
    head = head.replace(b"keep-alive", b"close")
    if b"\r\nconnection:" not in head.lower():
        head += b"\r\nConnection: close"
    return head + b"\r\n\r\n" + body


def _relay_answer(upstream: socket.socket, client: socket.socket, drop: bool, stall: float) -> None:
    while chunk := upstream.recv(65536):
        if drop:
            time.sleep(stall)  # a client with a shorter timeout gives up meanwhile
            return  # the server answered (so it did the work); the client never hears it
        client.sendall(chunk)


def canned_answer(status: int, reason: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
