"""The MCP server (the SDK's low-level `Server`): tools, and each thread as `thread://{id}`.

One server serves both transports; what differs is `backend_for`, which gives each request
the backend to call (see backend.py).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)  # fmt: skip
from starlette.requests import Request

from threadkeeper import __version__
from threadkeeper.client import Thread, ThreadkeeperError, ThreadNotFound
from threadkeeper.mcp_server import reading, tools
from threadkeeper.mcp_server.answers import dumps
from threadkeeper.mcp_server.backend import BackendFor
from threadkeeper.mcp_server.limits import McpLimits
from threadkeeper.mcp_server.reading import snippet

SCHEME = "thread://"
RESOURCE_PAGE = 50
RESOURCE_MIME = "application/json"

INSTRUCTIONS = (
    "threadkeeper keeps chat threads (conversations) across tools and restarts. Find one "
    "with search or list_threads, read it with fetch or read_thread (long threads come in "
    "pages: follow `next`), continue it with append_turns, branch it with fork_thread."
)

Ctx = ServerRequestContext[Any, Any]
T = TypeVar("T")


def thread_uri(thread_id: str) -> str:
    return SCHEME + quote(thread_id, safe="")


def build_server(backend_for: BackendFor, limits: McpLimits) -> Server[Any]:
    """The server; `backend_for(request)` gives the backend that serves one request."""

    async def list_tools(ctx: Ctx, params: PaginatedRequestParams | None) -> ListToolsResult:
        return ListToolsResult(tools=[spec.tool(name) for name, spec in tools.TOOLS.items()])

    async def call_tool(ctx: Ctx, params: CallToolRequestParams) -> CallToolResult:
        async with backend_for(_request(ctx)) as backend:
            return await tools.call(backend, params.name, params.arguments or {}, limits)

    async def list_resources(
        ctx: Ctx, params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        cursor = params.cursor if params is not None else None
        async with backend_for(_request(ctx)) as backend:
            page = await _mapped(backend.thread_page(limit=RESOURCE_PAGE, cursor=cursor))
        return ListResourcesResult(resources=[_resource(t) for t in page.threads],
                                   next_cursor=page.next)  # fmt: skip

    async def list_templates(
        ctx: Ctx, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        template = ResourceTemplate(
            name="thread", uri_template=SCHEME + "{id}", mime_type=RESOURCE_MIME,
            description="A thread: its newest turns that fit one answer, and its metadata",
        )  # fmt: skip
        return ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(ctx: Ctx, params: ReadResourceRequestParams) -> ReadResourceResult:
        thread_id = _thread_id(params.uri)
        async with backend_for(_request(ctx)) as backend:
            doc = await _mapped(reading.document(backend, thread_id, limits.answer_tokens))
        text = TextResourceContents(uri=params.uri, text=dumps(doc), mime_type=RESOURCE_MIME)
        return ReadResourceResult(contents=[text])

    return Server(
        "threadkeeper",
        version=__version__,
        title="threadkeeper",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


def _request(ctx: Ctx) -> Request | None:
    return ctx.request if isinstance(ctx.request, Request) else None


def _resource(thread: Thread) -> Resource:
    return Resource(uri=thread_uri(thread.id), name=thread.id, title=thread.title or thread.id,
                    description=snippet(thread), mime_type=RESOURCE_MIME)  # fmt: skip


def _thread_id(uri: str) -> str:
    if not uri.startswith(SCHEME) or len(uri) == len(SCHEME):
        raise MCPError(INVALID_PARAMS, f"{uri!r} is not a thread: threads are {SCHEME}{{id}}")
    return unquote(uri[len(SCHEME) :])


async def _mapped(work: Awaitable[T]) -> T:
    """Await `work`; a failed call becomes an MCP error that carries the API's reasons."""
    try:
        return await work
    except ThreadkeeperError as exc:
        client_side = isinstance(exc, ThreadNotFound) or 400 <= exc.status < 500
        body = reading.problem(exc)
        raise MCPError(
            INVALID_PARAMS if client_side else INTERNAL_ERROR, body["detail"], body
        ) from exc
