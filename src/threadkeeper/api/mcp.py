"""POST /mcp: the MCP server over streamable HTTP, behind the API's own bearer tokens.

A request without a valid token, while auth is on, is refused here with the API's 401
problem, before the SDK sees it. The SDK's session manager runs stateless with JSON
answers: with `up` running several API processes, any of them can serve any request.
Each tool call then goes back into this app, in process, with the caller's own token
(threadkeeper.mcp_server.backend), so a tenant's token reaches that tenant's threads only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from threadkeeper.errors import InvalidInput, ThreadkeeperError
from threadkeeper.mcp_server import McpLimits, build_server
from threadkeeper.mcp_server.backend import in_process_backend
from threadkeeper.web import problem_response

PATH = "/mcp"


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[None]:
    """The session manager for one run of the app (the SDK's manager runs only once)."""
    server = build_server(in_process_backend(app), McpLimits.from_settings(app.state.settings))
    manager = StreamableHTTPSessionManager(server, stateless=True, json_response=True)
    app.state.mcp = manager
    async with manager.run():
        yield


class McpEndpoint:
    """The ASGI app at /mcp (a class: Starlette would wrap a function as request -> response)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(scope, receive, send)


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    app = scope["app"]
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin-1") or None
    try:
        app.state.auth.caller_for(authorization)  # a user token: the API routes it calls check
    except ThreadkeeperError as exc:
        response = problem_response(exc, {"WWW-Authenticate": 'Bearer realm="threadkeeper"'})
        await response(scope, receive, send)
        return
    await app.state.mcp.handle_request(scope, receive, _problems(scope, receive, send))


def _problems(scope: Scope, receive: Receive, send: Send) -> Send:
    """`send`, with the SDK's refusals (plain text or JSON-RPC, 4xx) turned into the API's
    problem+json, as every other route answers: what went wrong and what to send instead."""
    refused: Message | None = None
    body: list[bytes] = []

    async def forward(message: Message) -> None:
        nonlocal refused
        if message["type"] == "http.response.start" and message["status"] >= 400:
            refused = message
            return
        if refused is None or message["type"] != "http.response.body":
            await send(message)
            return
        body.append(message.get("body", b""))
        if not message.get("more_body", False):
            problem = _refusal(refused["status"], b"".join(body))
            await problem_response(problem)(scope, receive, send)

    return forward


def _refusal(status: int, body: bytes) -> ThreadkeeperError:
    try:
        said = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        said = body.decode("utf-8", "replace").strip()
    problem = InvalidInput(
        f"MCP: {said or f'HTTP {status}'}. POST one JSON-RPC 2.0 message with Content-Type: "
        "application/json and Accept: application/json, text/event-stream (docs/MCP.md)"
    )
    problem.status = 400 if status in (406, 415) else status  # as documented in /openapi.json
    return problem


endpoint = McpEndpoint()
