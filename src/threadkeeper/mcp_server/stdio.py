"""`threadkeeper mcp`: the MCP server on stdin/stdout, calling the daemon over HTTP.

It ends when its client closes stdin, with exit status 0 and no process left behind.
"""

from __future__ import annotations

from mcp.server.stdio import stdio_server

from threadkeeper.client import AsyncClient
from threadkeeper.mcp_server.backend import shared_backend
from threadkeeper.mcp_server.limits import McpLimits
from threadkeeper.mcp_server.server import build_server


async def serve_stdio(limits: McpLimits) -> None:
    """Serve one client on stdio until it closes; THREADKEEPER_URL and _TOKEN name the daemon."""
    async with AsyncClient() as client:
        server = build_server(shared_backend(client), limits)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
