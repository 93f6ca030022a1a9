"""What the MCP tools call: a seam that threadkeeper's own HTTP client fills, on both transports.

stdio (`threadkeeper mcp`): one `AsyncClient` to the daemon at THREADKEEPER_URL with
THREADKEEPER_TOKEN, for the life of the process.

/mcp: per request, an `AsyncClient` over `httpx.ASGITransport` into the very app that serves
the request, carrying the caller's own bearer token and Host. The API then authorizes each
call exactly as it would the caller's own request: the token's tenant (and whatever a token
may narrow later) sees its threads and nothing else, and not-found reasons, limits and
validation are the API's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp

from threadkeeper.client import AsyncClient, Page, SearchResults, Thread, ThreadList
from threadkeeper.client._types import Appended, Context, Order


class Backend(Protocol):
    """The part of `threadkeeper.client.AsyncClient` the tools use."""

    url: str

    async def thread_page(
        self,
        *,
        tool: str | None = None,
        prefix: str | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ThreadList: ...

    async def search(
        self, q: str, *, limit: int | None = None, cursor: str | None = None
    ) -> SearchResults: ...

    async def page(
        self,
        thread_id: str,
        *,
        order: Order = "asc",
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page: ...

    async def get(self, thread_id: str) -> Thread: ...

    async def context(self, thread_id: str, max_tokens: int) -> Context: ...

    async def create(
        self,
        id: str | None = None,
        *,
        title: str | None = None,
        tool: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        turns: Sequence[Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> Thread: ...

    async def append(
        self,
        thread_id: str,
        turns: Sequence[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Appended: ...

    async def fork(self, thread_id: str, at_seq: int, *, id: str | None = None) -> Thread: ...


# What a handler calls to get the backend for the request it serves (`request` is the
# HTTP request on /mcp, None on stdio).
BackendFor = Callable[[Request | None], AbstractAsyncContextManager[Backend]]


def shared_backend(backend: Backend) -> BackendFor:
    """Every request uses `backend` (stdio: one client for the process)."""

    @asynccontextmanager
    async def use(request: Request | None) -> AsyncIterator[Backend]:
        yield backend

    return use


def in_process_backend(app: ASGIApp) -> BackendFor:
    """Each request calls `app` in process as its caller: the caller's token, Host and address."""

    @asynccontextmanager
    async def use(request: Request | None) -> AsyncIterator[Backend]:
        if request is None:
            raise RuntimeError("the /mcp backend serves HTTP requests only")
        origin = f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"
        # "" and not None: no token must never fall back to THREADKEEPER_TOKEN of this process.
        peer = (request.client.host, request.client.port) if request.client else ("127.0.0.1", 0)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=peer)
        client = AsyncClient(origin, _bearer(request), transport=transport)
        try:
            yield client
        finally:
            await client.aclose()

    return use


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
