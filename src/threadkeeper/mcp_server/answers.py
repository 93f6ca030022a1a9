"""Answers that fit a model's context: threads and turns as JSON, cut to a budget, saying so.

Every tool answer and resource read is held to THREADKEEPER_MCP_ANSWER_TOKENS (about four
characters a token, as /context counts a turn without a `tokens` count). What does not fit
is left for the next call, and the answer names that call's arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from threadkeeper.client import Thread, Turn

CHARS_PER_TOKEN = 4
# Room kept for the thread's summary and the note beside the turns.
ENVELOPE_CHARS = 2000
MIN_CUT_CHARS = 200


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def budget_chars(tokens: int) -> int:
    """Characters the turns of one answer may take, out of a budget of `tokens`."""
    return max(tokens * CHARS_PER_TOKEN - ENVELOPE_CHARS, MIN_CUT_CHARS)


def thread_url(base: str, thread_id: str) -> str:
    """The thread's page in the web console: the link a citation points at."""
    return f"{base.rstrip('/')}/ui/threads/{quote(thread_id, safe='')}"


def thread_summary(thread: Thread, base: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "id": thread.id,
        "title": thread.title,
        "tool": thread.tool,
        "turn_count": thread.turn_count,
        "created_at": thread.created_at.isoformat(),
        "updated_at": thread.updated_at.isoformat(),
        "state": thread.state,
        "version": thread.version,
        "url": thread_url(base, thread.id),
    }
    if thread.parent_id is not None:
        summary["parent_id"] = thread.parent_id
        summary["fork_seq"] = thread.fork_seq
    if thread.metadata:
        summary["metadata"] = thread.metadata
    return summary


def turn_row(turn: Turn, content: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": turn.seq,
        "role": turn.role,
        "content": turn.content if content is None else content,
        "created_at": turn.created_at.isoformat(),
    }
    for name in ("model", "tool_name"):
        if getattr(turn, name):
            row[name] = getattr(turn, name)
    return row


@dataclass(frozen=True, slots=True)
class Cut:
    """Turn `seq` shown up to character `shown_to` of its `length` characters."""

    seq: int
    shown_to: int
    length: int


@dataclass(frozen=True, slots=True)
class Fitted:
    """The turns that fit (as rows), whether every given turn fit, and a turn cut short."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    cut: Cut | None = None


def fit_turns(turns: list[Turn], room: int, from_char: int = 0) -> Fitted:
    """Turns in order while their JSON fits in `room` characters.

    A first turn that alone does not fit is cut (from `from_char` of its content on), so an
    answer always moves forward; a later turn that does not fit is left for the next call.
    """
    rows: list[dict[str, Any]] = []
    used = 0
    for index, turn in enumerate(turns):
        start = from_char if index == 0 else 0
        row = turn_row(turn, turn.content[start:])
        size = len(dumps(row))
        if used + size <= room:
            rows.append(row)
            used += size
            continue
        if rows:
            return Fitted(rows, complete=False)
        return _cut_first(turn, row, start, room)
    return Fitted(rows)


def _cut_first(turn: Turn, row: dict[str, Any], start: int, room: int) -> Fitted:
    content: str = row["content"]
    overhead = len(dumps(row)) - len(dumps(content))
    keep = max(room - overhead, MIN_CUT_CHARS)
    while keep > MIN_CUT_CHARS and len(dumps(content[:keep])) + overhead > room:
        keep = max(keep * 9 // 10, MIN_CUT_CHARS)  # escapes (\n, \") make JSON longer
    row["content"] = content[:keep]
    return Fitted([row], complete=False, cut=Cut(turn.seq, start + keep, len(turn.content)))


def cut_note(cut: Cut, thread_id: str) -> tuple[str, dict[str, Any]]:
    """What an answer says of a turn it cut, and the arguments that read on."""
    rest = {"id": thread_id, "after": cut.seq - 1, "limit": 1, "from_char": cut.shown_to}
    note = (
        f"turn {cut.seq} is longer than one answer: characters up to {cut.shown_to} of "
        f"{cut.length} are shown. Call read_thread with {dumps(rest)} for the rest of it"
    )
    return note, rest
