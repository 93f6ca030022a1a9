"""threadkeeper as an MCP server: the threads, searchable and readable from any MCP client.

    threadkeeper mcp                 # stdio, for desktop and CLI clients (docs/MCP.md)
    POST /mcp                        # streamable HTTP, in the API, for remote clients

`server.build_server` makes one server for both; `backend` says what each one calls (the
HTTP client, to the daemon or in process as the caller), `tools` and `reading` what the
tools answer, `answers` how an answer is held to THREADKEEPER_MCP_ANSWER_TOKENS.
The package is not named `mcp`: that is the SDK's name.
"""

from __future__ import annotations

from threadkeeper.mcp_server.limits import McpLimits
from threadkeeper.mcp_server.server import build_server

__all__ = ["McpLimits", "build_server"]
