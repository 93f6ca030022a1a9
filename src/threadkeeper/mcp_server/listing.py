"""Finding threads: `search` (full text, or the prefix listing while the daemon's index
is not built) and `list_threads`' pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadkeeper.client import SearchHit, Thread, ThreadkeeperError, ThreadList
from threadkeeper.keys import MAX_ID
from threadkeeper.mcp_server import reading
from threadkeeper.mcp_server.answers import budget_chars, dumps, thread_summary, thread_url
from threadkeeper.mcp_server.arguments import ListArgs
from threadkeeper.mcp_server.backend import Backend

MAX_PREFIX = MAX_ID  # the API's longest prefix: an id's length
MAX_TITLE = 200  # a listing shows this much of a title
SCAN_PAGES = 5  # a filtered page may come back short: follow at most this many cursors
SNIPPETS = 3  # a thread's text shows at most this many of its matching turns
UNAVAILABLE = "search-unavailable"  # the API's problem while its index is not built


@dataclass
class Found:
    """What `search` answers with: results in ChatGPT's connector shape, and a note."""

    results: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


async def find_threads(backend: Backend, query: str, count: int) -> Found:
    """The threads `search` answers with: the one place that decides how a query matches.

    Full text (GET /v1/search): the turns that say `query`, best first, grouped to their
    threads (at most `count`), each with its title and the snippets of its matching
    turns. An empty query lists the newest threads. While the daemon's index is not
    built (503 search-unavailable) the answer is the prefix listing (ids, and titles
    ignoring case, most recent first) and says so in its note.
    """
    if not query.strip():
        return Found([_listed(t, backend.url) for t in await _prefixed(backend, None, count)])
    try:
        return Found(await _full_text(backend, query, count))
    except ThreadkeeperError as exc:
        if exc.type.rpartition("/")[2] != UNAVAILABLE:
            raise
        found = await _prefixed(backend, query.strip()[:MAX_PREFIX], count)
        note = (f"full-text search is unavailable ({exc.detail}); these are the threads "
                "whose id or title starts with the query")  # fmt: skip
        return Found([_listed(t, backend.url) for t in found], note)


async def _full_text(backend: Backend, query: str, count: int) -> list[dict[str, Any]]:
    by_thread: dict[str, list[SearchHit]] = {}  # in the order of each thread's best hit
    cursor: str | None = None
    for _ in range(SCAN_PAGES):
        page = await backend.search(query, cursor=cursor)
        for hit in page.hits:
            if hit.thread_id in by_thread or len(by_thread) < count:
                by_thread.setdefault(hit.thread_id, []).append(hit)
        cursor = page.next
        if cursor is None or len(by_thread) >= count:
            break
    return [_matched(hits, backend.url) for hits in by_thread.values()]


def _matched(hits: list[SearchHit], base: str) -> dict[str, Any]:
    first = hits[0]
    shown = [f"#{h.seq} {h.role}: {h.snippet}" for h in hits[:SNIPPETS]]
    more = len(hits) - SNIPPETS
    if more > 0:
        shown.append(f"(and {more} more matching turns)")
    return {"id": first.thread_id, "title": _title(first.title) or first.thread_id,
            "url": thread_url(base, first.thread_id), "text": "\n".join(shown)}  # fmt: skip


def _listed(thread: Thread, base: str) -> dict[str, Any]:
    return {"id": thread.id, "title": _title(thread.title) or thread.id,
            "url": thread_url(base, thread.id), "text": reading.snippet(thread)}  # fmt: skip


def _title(title: str | None) -> str | None:
    if title and len(title) > MAX_TITLE:
        return title[:MAX_TITLE] + "…"
    return title


async def _prefixed(backend: Backend, prefix: str | None, count: int) -> list[Thread]:
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
    row["title"] = _title(row["title"])
    return row


async def list_page(backend: Backend, args: ListArgs, tokens: int) -> dict[str, Any]:
    """One page of the listing, shortened (and its cursor taken again) to fit the budget."""
    page = await _page(backend, args, args.limit)
    rows = [_row(t, backend.url) for t in page.threads]
    fit = fitting(rows, budget_chars(tokens))
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


def fitting(rows: list[dict[str, Any]], room: int) -> int:
    used = 0
    for index, row in enumerate(rows):
        used += len(dumps(row))
        if used > room:
            return max(index, 1)
    return len(rows)
