"""Finding threads: `search` (today by id or title prefix) and `list_threads`' pages."""

from __future__ import annotations

from typing import Any

from threadkeeper.client import Thread, ThreadList
from threadkeeper.keys import MAX_ID
from threadkeeper.mcp_server.answers import budget_chars, dumps, thread_summary
from threadkeeper.mcp_server.arguments import ListArgs
from threadkeeper.mcp_server.backend import Backend

MAX_PREFIX = MAX_ID  # the API's longest prefix: an id's length
MAX_TITLE = 200  # a listing shows this much of a title
SCAN_PAGES = 5  # a filtered page may come back short: follow at most this many cursors


async def find_threads(backend: Backend, query: str, count: int) -> list[Thread]:
    """The threads `search` answers with: the one place that decides how a query matches.

    Today the API's prefix listing (ids, and titles ignoring case, most recent first).
    When the daemon has full-text search (GET /v1/search, `AsyncClient.search`), this is
    the function to switch to it.
    """
    prefix = query.strip()[:MAX_PREFIX] or None
    found: list[Thread] = []
    cursor: str | None = None
    for _ in range(SCAN_PAGES):
        page = await backend.thread_page(prefix=prefix, limit=count - len(found), cursor=cursor)
        found.extend(page.threads)
        cursor = page.next
        if cursor is None or len(found) >= count:
            break
    return found[:count]


def _row(thread: Thread, base: str) -> dict[str, Any]:
    row = thread_summary(thread, base)
    row.pop("metadata", None)
    if row["title"] and len(row["title"]) > MAX_TITLE:
        row["title"] = row["title"][:MAX_TITLE] + "…"
    return row


async def list_page(backend: Backend, args: ListArgs, tokens: int) -> dict[str, Any]:
    """One page of the listing, shortened (and its cursor taken again) to fit the budget."""
    page = await _page(backend, args, args.limit)
    rows = [_row(t, backend.url) for t in page.threads]
    fit = _fitting(rows, budget_chars(tokens))
    if fit < len(rows):  # the same page, fewer threads: its cursor resumes after the last one
        page = await _page(backend, args, fit)
        rows = rows[:fit]
    body: dict[str, Any] = {"threads": rows, "next_cursor": page.next}
    if page.next:
        body["note"] = 'more threads follow: call list_threads with {"cursor": next_cursor}'
    return body


async def _page(backend: Backend, args: ListArgs, limit: int) -> ThreadList:
    return await backend.thread_page(
        tool=args.tool, prefix=args.prefix, updated_after=args.updated_after,
        updated_before=args.updated_before, limit=limit, cursor=args.cursor,
    )  # fmt: skip


def _fitting(rows: list[dict[str, Any]], room: int) -> int:
    used = 0
    for index, row in enumerate(rows):
        used += len(dumps(row))
        if used > room:
            return max(index, 1)
    return len(rows)
