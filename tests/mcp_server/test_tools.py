"""Every tool and resource, through the SDK's own client, over stdio and over /mcp."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from mcp.shared.exceptions import MCPError
from mcp_support import Connect, call, fail
from mcp_types import PaginatedRequestParams

from live_server import LiveServer
from search_support import index_now
from threadkeeper import keys
from threadkeeper.client import Client

pytestmark = pytest.mark.anyio

TOOLS = {"search", "fetch", "list_threads", "read_thread", "append_turns", "fork_thread"}


def _seed(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(
            id="rust-async",
            title="Rust async pitfalls",
            tool="pal",
            turns=[
                {"role": "user", "content": "why does my future not run?"},
                {"role": "assistant", "content": "nothing polls it", "model": "m1"},
            ],
        )
        tk.create(id="grocery", title="Groceries", tool="chat",
                  turns=[{"role": "user", "content": "eggs"}])  # fmt: skip


async def test_the_tool_list(live: LiveServer, connect: Connect) -> None:
    async with connect(live.url) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == TOOLS
    # ChatGPT's connectors call these with exactly one argument of exactly this name.
    assert listed["search"].input_schema["required"] == ["query"]
    assert set(listed["search"].input_schema["properties"]) == {"query"}
    assert set(listed["fetch"].input_schema["properties"]) == {"id"}
    assert listed["fetch"].annotations is not None and listed["fetch"].annotations.read_only_hint


async def test_search_and_fetch_in_the_connector_shape(live: LiveServer, connect: Connect) -> None:
    _seed(live)
    index_now(live.settings)
    async with connect(live.url) as session:
        found = await session.call_tool("search", {"query": "polls"})
        fetched = await session.call_tool("fetch", {"id": "rust-async"})
        everything = await call(session, "search", query="")
    body = found.structured_content
    assert body is not None and [r["id"] for r in body["results"]] == ["rust-async"]
    hit = body["results"][0]
    assert hit["title"] == "Rust async pitfalls" and "note" not in body
    assert hit["url"] == f"{live.url}/ui/threads/rust-async"
    assert hit["text"] == "#2 assistant: nothing polls it"
    doc = fetched.structured_content
    assert doc is not None and set(doc) == {"id", "title", "text", "url", "metadata"}
    assert "why does my future not run?" in doc["text"] and "assistant (m1)" in doc["text"]
    assert doc["metadata"]["turn_count"] == 2 and doc["metadata"]["tool"] == "pal"
    assert [r["id"] for r in everything["results"]] == ["grocery", "rust-async"]


async def test_search_groups_matching_turns_by_thread_best_first(
    live: LiveServer, connect: Connect
) -> None:
    with Client(live.url) as tk:
        tk.create(id="many", turns=[{"role": "user", "content": f"kayak trip day {n}"}
                                    for n in range(1, 6)])  # fmt: skip
        tk.create(id="once", title="Gear", turns=[
            {"role": "user", "content": "a kayak kayak kayak, paddles and a kayak"},
            {"role": "assistant", "content": "nothing about boats here"},
        ])  # fmt: skip
        tk.create(id="none", turns=[{"role": "user", "content": "a canoe"}])
    index_now(live.settings)
    async with connect(live.url) as session:
        found = await call(session, "search", query="kayak")
        phrase = await call(session, "search", query='"trip day 3"')
        prefixed = await call(session, "search", query="kay*")
    assert [r["id"] for r in found["results"]] == ["once", "many"]  # the denser turn ranks first
    once, many = found["results"]
    assert once["title"] == "Gear" and once["text"].startswith("#1 user: a kayak kayak")
    assert many["title"] == "many"  # no title: the id
    assert many["text"].count("\n#") == 2 and many["text"].endswith("(and 2 more matching turns)")
    assert [(r["id"], r["text"]) for r in phrase["results"]] == [
        ("many", "#3 user: kayak trip day 3")
    ]
    assert [r["id"] for r in prefixed["results"]] == ["once", "many"]


async def test_search_without_the_index_lists_by_prefix_and_says_so(
    serve: Callable[..., LiveServer], connect: Connect
) -> None:
    live = serve(indexed=False)
    _seed(live)
    async with connect(live.url) as session:
        found = await call(session, "search", query="rust")
        words = await call(session, "search", query="polls")
    assert [r["id"] for r in found["results"]] == ["rust-async"]
    assert "2 turns" in found["results"][0]["text"]
    assert "full-text search is unavailable" in found["note"]
    assert "not built yet" in found["note"] and "id or title starts with" in found["note"]
    assert words["results"] == [] and "unavailable" in words["note"]


async def test_list_threads_by_tool_and_time(live: LiveServer, connect: Connect) -> None:
    _seed(live)
    now = datetime.now(UTC)
    async with connect(live.url) as session:
        recent = await call(session, "list_threads")
        pal = await call(session, "list_threads", tool="pal")
        later = await call(
            session, "list_threads", updated_after=(now + timedelta(hours=1)).isoformat()
        )
        paged = await call(session, "list_threads", limit=1)
        rest = await call(session, "list_threads", cursor=paged["next_cursor"])
    assert [t["id"] for t in recent["threads"]] == ["grocery", "rust-async"]
    assert recent["next_cursor"] is None
    assert [t["id"] for t in pal["threads"]] == ["rust-async"]
    assert later["threads"] == []
    assert [t["id"] for t in paged["threads"]] == ["grocery"] and "cursor" in paged["note"]
    assert [t["id"] for t in rest["threads"]] == ["rust-async"]


async def test_read_append_and_fork(live: LiveServer, connect: Connect) -> None:
    _seed(live)
    async with connect(live.url) as session:
        added = await call(session, "append_turns", id="rust-async",
                           turns=[{"role": "user", "content": "thanks"}])  # fmt: skip
        made = await call(session, "append_turns", id="new-one", create=True, title="New",
                          turns=[{"role": "user", "content": "first"}])  # fmt: skip
        page = await call(session, "read_thread", id="rust-async", limit=2)
        rest = await call(session, "read_thread", **page["next"])
        newest = await call(session, "read_thread", id="rust-async", max_tokens=5)
        fork = await call(session, "fork_thread", id="rust-async", at_seq=1, new_id="rust-2")
        forked = await call(session, "read_thread", id="rust-2")
        refused = await fail(
            session, "append_turns", id="absent", turns=[{"role": "user", "content": "x"}]
        )
        bad = await fail(session, "read_thread", id="rust-async", limit=0)
    assert (added["seqs"], added["version"], added["created"]) == ([3], 2, False)
    assert (made["created"], made["seqs"]) == (True, [1])
    assert [t["seq"] for t in page["turns"]] == [1, 2] and page["next"]["after"] == 2
    assert [t["content"] for t in rest["turns"]] == ["thanks"] and rest["next"] is None
    assert [t["content"] for t in newest["turns"]] == ["thanks"]  # 5 tokens: the newest (2) only
    assert newest["next"] == {"id": "rust-async", "order": "desc", "before": 3}
    assert fork["thread"]["parent_id"] == "rust-async" and fork["thread"]["fork_seq"] == 1
    assert [t["seq"] for t in forked["turns"]] == [1]
    assert refused["reason"] == "never_stored"
    assert bad["error"] == "invalid-arguments" and "limit" in bad["detail"]


async def test_not_found_says_why(live: LiveServer, connect: Connect, redis_url: str) -> None:
    with Client(live.url) as tk:
        tk.create(id="gone", turns=[{"role": "user", "content": "bye"}])
        tk.delete("gone")
    async with connect(live.url) as session:
        never = await fail(session, "fetch", id="nobody")
        deleted = await fail(session, "read_thread", id="gone")
        redis.Redis.from_url(redis_url).hset(keys.CANARY, mapping={
            "data_survived": "0", "last_restart_at": 1_700_000_000_000,
            "data_lost_at": 1_700_000_000_000,
        })  # fmt: skip
        lost = await fail(session, "fetch", id="never-seen")
        with pytest.raises(MCPError) as unreadable:
            await session.read_resource("thread://gone")
    assert (never["error"], never["reason"]) == ("thread-not-found", "never_stored")
    assert "check the id" in never["detail"]
    assert deleted["reason"] == "deleted" and deleted["deleted_at"]
    assert "deleted by request" in deleted["detail"]
    assert lost["reason"] == "lost" and lost["data_lost_at"] == "2023-11-14T22:13:20.000Z"
    assert "WITHOUT its data" in lost["detail"]
    assert unreadable.value.data["reason"] == "deleted"


async def test_resources_listed_with_pagination(live: LiveServer, connect: Connect) -> None:
    with Client(live.url) as tk:
        for n in range(60):
            tk.create(id=f"t{n:02d}", turns=[{"role": "user", "content": f"turn of {n}"}])
    async with connect(live.url) as session:
        first = await session.list_resources()
        assert first.next_cursor is not None
        second = await session.list_resources(
            params=PaginatedRequestParams(cursor=first.next_cursor)
        )
        templates = await session.list_resource_templates()
        read = await session.read_resource("thread://t07")
    uris = [r.uri for r in first.resources + second.resources]
    assert len(first.resources) == 50 and second.next_cursor is None
    assert sorted(uris) == [f"thread://t{n:02d}" for n in range(60)]
    assert templates.resource_templates[0].uri_template == "thread://{id}"
    text = read.contents[0].text  # type: ignore[union-attr]
    assert '"id":"t07"' in text and "turn of 7" in text
