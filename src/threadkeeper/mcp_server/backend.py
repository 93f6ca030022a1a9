"""What the MCP tools call: a seam that threadkeeper's own HTTP client fills, on both transports.

stdio (`threadkeeper mcp`): one `AsyncClient` to the daemon at THREADKEEPER_URL with
THREADKEEPER_TOKEN, for the life of the process.

/mcp: one `AsyncClient` into the very app that serves the requests, for the app's life; each
request's calls carry that request's caller: its bearer token, Host and address. The API then
authorizes each call exactly as it would the caller's own request: the token's tenant (and
whatever a token may narrow later) sees its threads and nothing else, and not-found reasons,
limits and validation are the API's own.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
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


@asynccontextmanager
async def in_process_backend(app: ASGIApp) -> AsyncIterator[BackendFor]:
    """One client into `app` in process, open while this runs; each request uses it as its
    caller (token, Host and address), and the links it answers name the caller's origin."""
    # "" and not None: no token must never fall back to THREADKEEPER_TOKEN of this process.
    async with AsyncClient(_IN_PROCESS, "", transport=_AsCaller(app)) as client:

        @asynccontextmanager
        async def use(request: Request | None) -> AsyncIterator[Backend]:
            if request is None:
                raise RuntimeError("the /mcp backend serves HTTP requests only")
            calling = _caller.set(request)
            try:
                view = copy.copy(client)  # the same httpx client, this caller's URL for links
                view.url = _origin(request)
                yield view
            finally:
                _caller.reset(calling)

        yield use


# Where the shared client points: a placeholder, each call goes to its caller's origin.
_IN_PROCESS = "http://in-process.invalid"
# The /mcp request a task serves, set while its handler uses the backend.
_caller: ContextVar[Request] = ContextVar("mcp_caller")


class _AsCaller(httpx.AsyncBaseTransport):
    """Into `app` in process, as the caller of the /mcp request this task serves."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        caller = _caller.get()
        request.url = httpx.URL(_origin(caller)).copy_with(raw_path=request.url.raw_path)
        request.headers["Host"] = request.url.netloc.decode("ascii")
        if token := _bearer(caller):
            request.headers["Authorization"] = f"Bearer {token}"
        peer = (caller.client.host, caller.client.port) if caller.client else ("127.0.0.1", 0)
        asgi = httpx.ASGITransport(app=self._app, raise_app_exceptions=False, client=peer)
        return await asgi.handle_async_request(request)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
