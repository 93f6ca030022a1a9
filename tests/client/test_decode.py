"""Pages decoded by msgspec are the very records `from_json` builds from json.loads."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from threadkeeper.client import _decode as decode
from threadkeeper.client._types import Context, Page

THREAD = {
    "id": "t1", "tenant": "default", "title": "chat", "tool": None, "metadata": {"k": [1]},
    "created_at": "2026-01-31T12:00:00Z", "updated_at": "2026-01-31T12:00:01.250000Z",
    "turn_count": 3, "bytes": 1200, "version": 3, "parent_id": "t0", "fork_seq": 2,
    "state": "archived", "archived_version": 2, "archived_at": "2026-02-01T00:00:00Z",
    "possibly_missing": None,
}  # fmt: skip
TURNS = [
    {"seq": 1, "role": "user", "content": "hello", "created_at": "2026-01-31T12:00:00Z",
     "tool_name": None, "model": None, "files": [], "images": [], "metadata": {}, "tokens": None},
    {"seq": 2, "role": "assistant", "content": "hi", "created_at": "2026-01-31T12:00:00.5Z",
     "tool_name": "search", "model": "m-1", "files": ["a.py"], "images": [{"url": "x"}],
     "metadata": {"score": 0.5}, "tokens": 7, "deleted_at": None},
    {"seq": 3, "role": "user", "content": "terse", "created_at": "2026-01-31T12:00:01Z"},
]  # fmt: skip


def _raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_a_page_decodes_to_the_same_records() -> None:
    for body in (
        {"thread": THREAD, "turns": TURNS, "next": "c2"},
        {"thread": THREAD, "turns": TURNS[:1], "next": None, "missing_turns": [2, 3]},
        {"thread": {"id": "t2", "created_at": THREAD["created_at"],
                    "updated_at": THREAD["updated_at"]}, "turns": []},
    ):  # fmt: skip
        assert decode.page(_raw(body)) == Page.from_json(body)


def test_a_context_decodes_to_the_same_records() -> None:
    body = {"thread": THREAD, "turns": TURNS, "tokens": 40, "omitted": 5, "missing_turns": [1, 1]}
    assert decode.context(_raw(body)) == Context.from_json(body)


def test_a_body_the_typed_decode_refuses_is_read_as_before() -> None:
    turn = TURNS[0] | {"files": None, "metadata": None}
    thread = {k: v for k, v in THREAD.items() if k not in ("tenant", "state")}
    body = {"thread": thread, "turns": [turn], "missing_turns": [2, 3]}
    found = decode.page(_raw(body))
    assert found == Page.from_json(body)
    assert found.turns[0].files == [] and found.thread.state == "hot"


def test_without_msgspec_the_client_decodes_with_json() -> None:
    """The client needs only httpx (PAL's virtualenv has nothing more)."""
    body = {"thread": THREAD, "turns": TURNS, "next": None, "missing_turns": [2, 3]}
    probe = (
        "import json, sys; sys.modules['msgspec'] = None; "
        "from threadkeeper.client import _decode; "
        f"page = _decode.page({_raw(body)!r}); "
        "print(json.dumps([page.next, list(page.missing_turns), len(page.turns)]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [None, [2, 3], 3]
