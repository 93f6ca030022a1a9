"""The Python client for threadkeeper's HTTP API (docs/API.md), sync and async.

    from threadkeeper.client import Client
    with Client() as tk:                      # THREADKEEPER_URL, THREADKEEPER_TOKEN
        tk.create(id="chat-42", tool="chat", turns=[{"role": "user", "content": "hi"}])

Only httpx is imported: the client runs without the server's stack.
"""

from __future__ import annotations

from threadkeeper.client._async import AsyncClient
from threadkeeper.client._base import Retries
from threadkeeper.client._errors import (
    Conflict,
    InvalidRequest,
    LimitExceeded,
    ServerError,
    StoreFull,
    ThreadExists,
    ThreadkeeperError,
    ThreadNotFound,
    Unauthorized,
    Unavailable,
    VersionConflict,
)  # fmt: skip
from threadkeeper.client._sync import Client
from threadkeeper.client._types import (
    Appended,
    Archived,
    Context,
    Page,
    Rehydrated,
    SearchHit,
    SearchResults,
    Thread,
    ThreadList,
    Turn,
)  # fmt: skip

__all__ = [
    "Appended", "Archived", "AsyncClient", "Client", "Conflict", "Context", "InvalidRequest",
    "LimitExceeded", "Page", "Rehydrated", "Retries", "SearchHit", "SearchResults",
    "ServerError", "StoreFull", "Thread", "ThreadExists", "ThreadList", "ThreadNotFound",
    "ThreadkeeperError", "Turn", "Unauthorized",
    "Unavailable", "VersionConflict",
]  # fmt: skip
