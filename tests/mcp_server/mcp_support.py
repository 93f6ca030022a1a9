"""The SDK's own client on either transport (stdio: `threadkeeper mcp` as a child process;
HTTP: the daemon's /mcp), and tool answers read back."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

THREADKEEPER = str(Path(sys.executable).with_name("threadkeeper"))

Connect = Callable[..., AbstractAsyncContextManager[ClientSession]]


def stdio_env(url: str, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {"THREADKEEPER_URL": url, **extra}
    if token is not None:
        env["THREADKEEPER_TOKEN"] = token
    return env


@asynccontextmanager
async def over_stdio(
    url: str,
    token: str | None = None,
    *,
    command: str = THREADKEEPER,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command, args=["mcp"] if args is None else args,
                                   env=stdio_env(url, token) | (env or {}))  # fmt: skip
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def over_http(url: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A tool's answer: its one text item, parsed; a failed call fails the test."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return answer(result)


async def fail(session: ClientSession, tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A tool call that must fail: its error answer, parsed."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.content
    return answer(result)


def answer(result: CallToolResult) -> dict[str, Any]:
    assert len(result.content) == 1 and result.content[0].type == "text"
    parsed: dict[str, Any] = json.loads(result.content[0].text)
    return parsed
