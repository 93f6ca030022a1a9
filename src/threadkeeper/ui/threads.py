"""The console's thread pages: a tenant's threads, and one thread's turns, paged.

Both read through ThreadService with the browser's tenant, exactly as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from threadkeeper.errors import InvalidInput
from threadkeeper.models import ThreadState
from threadkeeper.service import ThreadRead, ThreadService
from threadkeeper.store.paging import DEFAULT_PAGE, ThreadQuery, TurnWindow
from threadkeeper.store.records import Listed
from threadkeeper.ui import session
from threadkeeper.ui.render import console, page
from threadkeeper.web import MAX_SEQ, int_param, thread_page

THREADS_PER_PAGE = TURNS_PER_PAGE = DEFAULT_PAGE
FILTERS = ("prefix", "tool", "updated_after", "updated_before", "user_id", "metadata")

# What a finished action says on the page it lands on (?done=...): fixed texts only.
DONE = {
    "archived": "Archived: the archive holds this version.",
    "clean": "Already archived: the archive held this version.",
    "incomplete": "Not archived: some turns are missing from Redis (see below).",
    "moved": "Written to while it was archived: the sweeper archives the new version.",
    "too_large": "Not archived: the snapshot would pass THREADKEEPER_MAX_SNAPSHOT_BYTES.",
    "behind": "Rehydrated, but the archive holds fewer turns than the thread had (see below).",
    "lost": "Not rehydrated: neither Redis nor the archive holds its turns (see below).",
    "present": "Rehydrate: the turns were already in Redis.",
    "restored": "Rehydrated from the archive: the turns are back in Redis.",
    "forked": "Forked: this is the new thread.",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a thread's page: a turn, a turn deleted by request, or a run of turns
    nothing holds."""

    seq: int
    turn: dict[str, Any] | None = None
    last: int = 0  # for a missing run: its last seq
    deleted_at: str | None = None  # for a turn deleted by request: when


def _service(request: Request) -> ThreadService:
    return request.app.state.service  # type: ignore[no-any-return]


def _limit(request: Request, default: int) -> int:
    high = request.app.state.settings.limits.max_page
    return int_param(request, "limit", low=1, high=high) or default


@console
async def threads_page(request: Request) -> Response:
    caller, service = session.caller(request), _service(request)
    tenant, params = caller.tenant, request.query_params
    listing = _with_metadata(thread_page(params, _limit(request, THREADS_PER_PAGE)), params)
    listing = service.access.listing(caller, listing)
    threads, cursor = await service.list(tenant, listing)
    filters = {name: params.get(name, "") for name in FILTERS}
    kept = {k: v for k, v in filters.items() if v}
    return page(
        request, "threads.html", nav="threads", tenant=tenant, filters=filters,
        rows=[_listed(x) for x in threads], filtered=bool(kept) or "cursor" in params,
        next_url=_url("/ui/threads", {**kept, "cursor": cursor}) if cursor else None,
        stopped=listing.filtered and cursor is not None and len(threads) < listing.limit,
        scan=request.app.state.settings.limits.max_list_scan,
    )  # fmt: skip


def _with_metadata(listing: ThreadQuery, params: Mapping[str, str]) -> ThreadQuery:
    """The form's one `metadata` field, KEY=VALUE, as the API's metadata.KEY=VALUE."""
    raw = params.get("metadata", "").strip()
    if not raw or params.get("cursor"):  # a cursor carries the filters already
        return listing
    key, equals, value = raw.partition("=")
    if not equals or not key.strip():
        raise InvalidInput(f"metadata {raw!r}: write KEY=VALUE, e.g. project=apollo")
    return replace(listing, metadata=(*listing.metadata, (key.strip(), value.strip())))


def _listed(item: Listed) -> dict[str, Any]:
    thread = item.thread
    lost = item.state is ThreadState.ARCHIVED and thread.dirty
    return {"thread": thread, "state": item.state.value, "degraded": lost}


def _url(path: str, params: dict[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


LANGGRAPH = "langgraph"  # the tool of LangGraph's threads (checkpoints.records.TOOL)
PAGING = {"after", "before", "last"}


def _turn_page(request: Request) -> TurnWindow:
    limit = _limit(request, TURNS_PER_PAGE)
    before = int_param(request, "before", low=1, high=MAX_SEQ)
    if before is not None or request.query_params.get("last"):
        return TurnWindow("desc", None, before, limit)
    return TurnWindow("asc", int_param(request, "after", high=MAX_SEQ), None, limit)


@console
async def thread_page_view(request: Request) -> Response:
    tenant, thread_id = await session.visible_thread(request)
    turns = _turn_page(request)
    view = await _service(request).read(tenant, thread_id, turns)
    if view.next and view.thread.tool == LANGGRAPH and not PAGING & set(request.query_params):
        # A LangGraph thread opens at its newest checkpoints: where its latest messages are.
        turns = TurnWindow("desc", None, None, turns.limit)
        view = await _service(request).read(tenant, thread_id, turns)
    shown = sorted(view.turns, key=lambda t: int(t["seq"]))
    rows = _rows(shown, view, turns)
    done = DONE.get(request.query_params.get("done", ""))
    return page(
        request, "thread.html", nav="threads", view=view, thread=view.thread,
        state=view.state.value, rows=rows, done=done, pager=_pager(view, rows, turns),
    )  # fmt: skip


def _rows(shown: list[dict[str, Any]], view: ThreadRead, turns: TurnWindow) -> list[Row]:
    """The turns shown, with a row for each run of seqs in this page's window nothing holds."""
    count = view.thread.turn_count
    seqs = [int(t["seq"]) for t in shown]
    if turns.order == "asc":
        low = (turns.after or 0) + 1
        high = seqs[-1] if view.next and seqs else min(count, low + turns.limit - 1)
    else:
        high = min(count, (turns.before or count + 1) - 1)
        low = seqs[0] if view.next and seqs else max(1, high - turns.limit + 1)
    deleted = dict(view.deleted)
    rows: list[Row] = []
    expected = low
    for turn, seq in zip(shown, seqs, strict=True):
        rows += _gap(expected, seq - 1, deleted)
        rows.append(Row(seq, turn))
        expected = seq + 1
    return rows + _gap(expected, high, deleted)


def _gap(first: int, last: int, deleted: dict[int, str]) -> list[Row]:
    """Seqs first..last, not shown: each deleted one says when; runs of the rest are missing."""
    rows: list[Row] = []
    start = first
    for seq in sorted(s for s in deleted if first <= s <= last):
        if seq > start:
            rows.append(Row(start, None, seq - 1))
        rows.append(Row(seq, None, seq, deleted[seq]))
        start = seq + 1
    if start <= last:
        rows.append(Row(start, None, last))
    return rows


def _pager(view: ThreadRead, rows: list[Row], turns: TurnWindow) -> dict[str, str | None]:
    """Links to the first, previous, next and last pages of turns."""
    base = f"/ui/threads/{view.thread.id}"
    limit = {"limit": turns.limit} if turns.limit != TURNS_PER_PAGE else {}
    count = view.thread.turn_count
    first = rows[0].seq if rows else 1
    last = (rows[-1].last or rows[-1].seq) if rows else 0
    return {
        "first": _url(base, limit) if first > 1 else None,
        "previous": _url(base, {**limit, "before": first}) if first > 1 else None,
        "next": _url(base, {**limit, "after": last}) if last < count else None,
        "last": _url(base, {**limit, "last": 1}) if last < count else None,
        "range": f"{first}–{last} of {count}" if rows else f"none of {count}",
    }


@console
async def delete_page(request: Request) -> Response:
    """The confirmation before a delete: what will go, and that it cannot be undone."""
    tenant, thread_id = await session.visible_thread(request)
    view = await _service(request).read(tenant, thread_id, TurnWindow(limit=1))
    return page(request, "delete.html", nav="threads", thread=view.thread)
