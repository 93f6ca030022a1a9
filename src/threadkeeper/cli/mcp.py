"""`threadkeeper mcp`: the MCP server on stdio, for Claude, Cursor, Codex and other clients."""

from __future__ import annotations

import logging

import anyio

from threadkeeper.cli import main
from threadkeeper.cli.common import base_settings
from threadkeeper.mcp_server import McpLimits
from threadkeeper.mcp_server.stdio import serve_stdio


@main.command("mcp")
def mcp_command() -> None:
    """Serve the threads to an MCP client on stdin/stdout (docs/MCP.md).

    It calls the daemon at THREADKEEPER_URL (default http://127.0.0.1:8750) with
    THREADKEEPER_TOKEN, as the Python client does, and ends when the client closes.
    """
    for name in ("mcp", "httpx"):  # stderr keeps what matters, not a line per request
        logging.getLogger(name).setLevel(logging.WARNING)
    anyio.run(serve_stdio, McpLimits.from_settings(base_settings()))
