"""Long threads come in answers that fit a model's context, and each says how to get the rest."""

from __future__ import annotations

import json

import pytest
from mcp_support import Connect, call

from live_server import LiveServer
from threadkeeper.client import Client
from threadkeeper.mcp_server.answers import CHARS_PER_TOKEN
from threadkeeper.settings import Settings

pytestmark = pytest.mark.anyio

BUDGET = Settings().mcp_answer_tokens * CHARS_PER_TOKEN  # what one answer may hold
TURNS = 10_000
BATCH = 1000


def _long_thread(live: LiveServer) -> None:
    turns = [{"role": "user" if i % 2 else "assistant", "content": f"turn {i} " + "x" * 60}
             for i in range(1, TURNS + 1)]  # fmt: skip
    with Client(live.url) as tk:
        tk.create(id="long", title="Ten thousand turns", turns=turns[:BATCH])
        for start in range(BATCH, TURNS, BATCH):
            tk.append("long", turns[start : start + BATCH])


async def test_a_10000_turn_thread_read_page_by_page(live: LiveServer, connect: Connect) -> None:
    _long_thread(live)
    seqs: list[int] = []
    answers = 0
    async with connect(live.url) as session:
        result = await session.call_tool("read_thread", {"id": "long", "limit": 1000})
        while True:
            answers += 1
            text = result.content[0].text  # type: ignore[union-attr]
            assert len(text) <= BUDGET
            body = json.loads(text)
            seqs.extend(turn["seq"] for turn in body["turns"])
            if body["next"] is None:
                break
            assert "answer budget" in body["note"]
            result = await session.call_tool("read_thread", body["next"])
    assert seqs == list(range(1, TURNS + 1))
    assert answers > TURNS // 1000  # the budget, not the limit, cut each answer


async def test_fetch_and_newest_of_a_10000_turn_thread(live: LiveServer, connect: Connect) -> None:
    _long_thread(live)
    async with connect(live.url) as session:
        doc = await call(session, "fetch", id="long")
        newest = await call(session, "read_thread", id="long", max_tokens=1_000_000)
        older = await call(session, "read_thread", **newest["next"])
    first, last = doc["metadata"]["shown_turns"]
    assert last == TURNS and 1 < first < TURNS and len(doc["text"]) < BUDGET
    assert doc["text"].endswith("turn 10000 " + "x" * 60)
    assert f"turns 1-{first - 1} of {TURNS} are not in this text" in doc["metadata"]["note"]
    assert newest["turns"][-1]["seq"] == TURNS and newest["turns"][0]["seq"] == first
    assert newest["next"] == {"id": "long", "order": "desc", "before": first}
    assert older["turns"][0]["seq"] == first - 1  # newest first, going back


async def test_a_turn_longer_than_an_answer_is_read_in_pieces(
    live: LiveServer, connect: Connect
) -> None:
    big = "".join(f'line {i}: "quoted"\n' for i in range(12_000))  # ~250 KB, escapes too
    with Client(live.url) as tk:
        tk.create(id="big", turns=[{"role": "user", "content": "before"},
                                   {"role": "assistant", "content": big},
                                   {"role": "user", "content": "after"}])  # fmt: skip
    pieces: list[str] = []
    cut = 0
    async with connect(live.url) as session:
        body = await call(session, "read_thread", id="big")
        assert [t["content"] for t in body["turns"]] == ["before"]
        while body["turns"][-1]["seq"] < 3:
            body = await call(session, "read_thread", **body["next"])
            assert len(body["turns"]) == 1
            if body["turns"][0]["seq"] == 2:
                pieces.append(body["turns"][0]["content"])
                cut += "is longer than one answer" in body.get("note", "")
        doc = await call(session, "fetch", id="big")
    assert "".join(pieces) == big and cut == len(pieces) - 1 > 0
    assert body["turns"][0]["content"] == "after" and body["next"] is None
    assert doc["metadata"]["shown_turns"] == [3, 3]
