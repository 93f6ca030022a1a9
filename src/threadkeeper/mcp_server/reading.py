"""Reading threads for a model: a page of turns, the newest turns within a budget, a
document for `fetch` and for `thread://` resources, and errors that say why."""

from __future__ import annotations

from typing import Any

from threadkeeper.client import Thread, ThreadkeeperError, ThreadNotFound, Unavailable
from threadkeeper.mcp_server.answers import (
    CHARS_PER_TOKEN,
    Fitted,
    budget_chars,
    cut_note,
    dumps,
    fit_turns,
    thread_summary,
    thread_url,
)  # fmt: skip
from threadkeeper.mcp_server.arguments import ReadArgs
from threadkeeper.mcp_server.backend import Backend


def snippet(thread: Thread) -> str:
    """A search result's text: what a model needs to pick a thread before fetching it."""
    parts = [f"{thread.turn_count} turns", f"updated {thread.updated_at.isoformat()}"]
    if thread.tool:
        parts.append(f"tool {thread.tool}")
    if thread.parent_id:
        parts.append(f"forked from {thread.parent_id} at turn {thread.fork_seq}")
    return ", ".join(parts)


async def page(backend: Backend, args: ReadArgs, tokens: int) -> dict[str, Any]:
    """Turns in seq order from `after`/`before`, as many as `limit` and the budget allow."""
    got = await backend.page(args.id, order=args.order, after=args.after, before=args.before,
                             limit=args.limit)  # fmt: skip
    fitted = fit_turns(got.turns, budget_chars(tokens), args.from_char)
    body: dict[str, Any] = {"thread": thread_summary(got.thread, backend.url),
                            "turns": fitted.rows}  # fmt: skip
    notes = _missing(got.missing_turns)
    rest = _next_page(args, fitted, more=got.next is not None)
    if fitted.cut is not None:
        note, rest = cut_note(fitted.cut, args.id)
        notes.append(note)
    elif rest is not None:
        why = "the answer budget" if not fitted.complete else f"limit={args.limit}"
        notes.append(f"more turns follow ({why}): call read_thread with `next` for them")
    body["next"] = rest
    if notes:
        body["note"] = ". ".join(notes)
    return body


def _next_page(args: ReadArgs, fitted: Fitted, *, more: bool) -> dict[str, Any] | None:
    if not fitted.rows or (fitted.complete and not more):
        return None
    last = fitted.rows[-1]["seq"]
    rest: dict[str, Any] = {"id": args.id, "order": args.order, "limit": args.limit}
    if args.order == "asc":
        rest["after"] = last
        if args.before is not None:
            rest["before"] = args.before
    else:
        rest["before"] = last
        if args.after is not None:
            rest["after"] = args.after
    return rest


async def newest(backend: Backend, thread_id: str, tokens: int, wanted: int) -> dict[str, Any]:
    """The newest turns within `wanted` tokens as /context counts them (and within the
    answer's `tokens`), oldest first."""
    thread, rows, notes = await _newest_rows(backend, thread_id, tokens, wanted)
    body: dict[str, Any] = {"thread": thread_summary(thread, backend.url), "turns": rows}
    body["next"] = _older(thread_id, rows, thread)
    if body["next"] is not None:
        notes.append("older turns were left out for the budget: call read_thread with `next` "
                     "for them, newest first")  # fmt: skip
    if notes:
        body["note"] = ". ".join(notes)
    return body


async def document(backend: Backend, thread_id: str, tokens: int) -> dict[str, Any]:
    """`fetch`'s answer and a `thread://` resource: {id, title, text, url, metadata}."""
    thread, rows, notes = await _newest_rows(backend, thread_id, tokens)
    older = _older(thread_id, rows, thread)
    if older is not None:
        first = rows[0]["seq"]
        notes.insert(0, f"turns 1-{first - 1} of {thread.turn_count} are not in this text: "
                     f"call read_thread with {dumps(older)} for them")  # fmt: skip
    metadata = thread_summary(thread, backend.url)
    for name in ("id", "title", "url"):
        metadata.pop(name)
    metadata["shown_turns"] = [rows[0]["seq"], rows[-1]["seq"]] if rows else []
    if notes:
        metadata["note"] = ". ".join(notes)
    return {"id": thread.id, "title": thread.title or thread.id,
            "text": "\n\n".join(_transcript(row) for row in rows),
            "url": thread_url(backend.url, thread.id), "metadata": metadata}  # fmt: skip


async def _newest_rows(
    backend: Backend, thread_id: str, tokens: int, wanted: int | None = None
) -> tuple[Thread, list[dict[str, Any]], list[str]]:
    room = budget_chars(tokens)
    # /context counts content only; the rows' keys cost more, so fit them again here.
    content = max(room // CHARS_PER_TOKEN, 1)
    found = await backend.context(thread_id, content if wanted is None else min(wanted, content))
    fitted = fit_turns(list(reversed(found.turns)), room)
    rows = list(reversed(fitted.rows))
    notes = _missing(found.missing_turns)
    if not rows and found.thread.turn_count:  # the newest turn alone is over the budget
        last = await backend.page(thread_id, order="desc", limit=1)
        fitted = fit_turns(last.turns, room)
        rows = fitted.rows
    if fitted.cut is not None:
        notes.append(cut_note(fitted.cut, thread_id)[0])
    return found.thread, rows, notes


def _older(thread_id: str, rows: list[dict[str, Any]], thread: Thread) -> dict[str, Any] | None:
    first = rows[0]["seq"] if rows else thread.turn_count + 1
    if first <= 1:
        return None
    return {"id": thread_id, "order": "desc", "before": first}


def _transcript(row: dict[str, Any]) -> str:
    who = row["role"] + (f" ({row['model']})" if row.get("model") else "")
    return f"[#{row['seq']} {who}, {row['created_at']}]\n{row['content']}"


def _missing(span: tuple[int, int] | None) -> list[str]:
    if span is None:
        return []
    return [f"turns {span[0]}-{span[1]} are missing: nothing holds them any more (lost when "
            "Redis restarted without its data, or expired in cache-only mode; the daemon's "
            "GET /v1/health says which). Fork at the last turn shown to continue"]  # fmt: skip


NOT_RUNNING = (
    ". threadkeeper did not answer: is the daemon running? Start it with `threadkeeper up`, "
    "or set THREADKEEPER_URL to where it runs"
)


def problem(exc: ThreadkeeperError) -> dict[str, Any]:
    """A failed call as a tool's error answer: the API's problem, its slug and its reasons."""
    slug = exc.type.rpartition("/")[2] or type(exc).__name__
    body: dict[str, Any] = {"error": slug, "detail": exc.detail}
    if isinstance(exc, ThreadNotFound):
        body["reason"] = exc.reason
        for name in ("thread_id", "deleted_at", "data_lost_at", "data_lost_on"):
            if exc.problem.get(name) is not None:
                body[name] = exc.problem[name]
    elif isinstance(exc, Unavailable) and exc.status == 0:
        body["detail"] += NOT_RUNNING
    for name in ("field", "setting", "limit", "current_version"):
        if exc.problem.get(name) is not None:
            body[name] = exc.problem[name]
    return body
