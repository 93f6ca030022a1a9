"""threadkeeper over HTTP, driven by a deliberately lean keep-alive HTTP/1.1 client.

A general-purpose client (httpx) spends ~0.3 ms of CPU per request, on the same two
cores as the server; this one writes the request bytes and reads Content-Length
bytes back, so what is measured is the server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from common import Run, drive, turn


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(raw)}\r\n"
        if raw:
            head += "Content-Type: application/json\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        self.writer.write(head.encode() + b"\r\n" + raw)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in lines
                if line[:15].lower() == b"content-length:"
            ),
            None,
        )
        if length is None:
            raise HttpError(f"response without Content-Length: {head!r}")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.writer = None


def expect(status: int, body: bytes, *wanted: int) -> bytes:
    if status not in wanted:
        raise HttpError(f"HTTP {status}: {body[:300]!r}")
    return body


class HttpKit:
    """Appends and reads through the API, with one connection per simulated client."""

    def __init__(self, host: str, port: int, clients: int = 1) -> None:
        self.connections = [Connection(host, port) for _ in range(clients)]

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()

    async def append(
        self, thread_id: str, turns: list[dict[str, Any]], client: int = 0, key: bool = True
    ) -> bytes:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if key else None
        path = f"/v1/threads/{thread_id}/turns"
        status, body = await self.connections[client].request(
            "POST", path, {"turns": turns}, headers
        )
        return expect(status, body, 201)

    async def create(self, thread_id: str, turns: list[dict[str, Any]] | None = None) -> None:
        new = {"id": thread_id, "title": "bench", "tool": "bench", "turns": turns or []}
        status, body = await self.connections[0].request("POST", "/v1/threads", new)
        expect(status, body, 201)

    async def get(self, path: str, client: int) -> bytes:
        """One GET on connection `client`, its body unparsed (what is timed is the server)."""
        status, body = await self.connections[client].request("GET", path)
        return expect(status, body, 200)

    async def read_all(self, thread_id: str, page: int) -> int:
        """Every turn, following `next` cursors with pages of `page` turns."""
        query: dict[str, Any] = {"limit": page}
        count = 0
        for _ in range(100_000 // page + 2):
            status, raw = await self.connections[0].request(
                "GET", f"/v1/threads/{thread_id}?{urlencode(query)}"
            )
            data = json.loads(expect(status, raw, 200))
            count += len(data["turns"])
            if not data["next"]:
                return count
            query = {"limit": page, "cursor": data["next"]}
        raise HttpError("read_all did not reach the end of the thread")

    async def read_last(self, thread_id: str, count: int) -> int:
        status, raw = await self.connections[0].request(
            "GET", f"/v1/threads/{thread_id}?order=desc&limit={count}"
        )
        return len(json.loads(expect(status, raw, 200))["turns"])

    async def ping(self, client: int) -> bytes:
        status, body = await self.connections[client].request("GET", "/healthz")
        return expect(status, body, 200)

    async def ceiling(self, total: int, seconds: float) -> Run:
        """GET /healthz: what uvicorn and Starlette alone take, no Redis, no JSON body."""
        return await drive(len(self.connections), total, seconds, lambda c, i: self.ping(c))

    async def throughput(self, total: int, seconds: float, tag: str, per_request: int = 1) -> Run:
        """One thread per client connection, each appending `per_request` turns a request."""
        ids = [f"http-{tag}-{c}" for c in range(len(self.connections))]
        for thread_id in ids:
            await self.create(thread_id)
        turns = [turn(i) for i in range(per_request)]
        return await drive(
            len(self.connections), total, seconds, lambda c, i: self.append(ids[c], turns, c)
        )
