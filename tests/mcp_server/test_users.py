"""/mcp with user tokens: a user reaches its own threads only, through every tool and
resource, as on the API (the MCP server calls the API's routes with the caller's token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from mcp_support import call, fail, over_http

from live_server import LiveServer
from search_support import index_now
from threadkeeper.auth import add_token
from threadkeeper.client import Client

pytestmark = pytest.mark.anyio


@pytest.fixture
def acme(tmp_path: Path, serve: Callable[..., LiveServer]) -> tuple[LiveServer, list[str]]:
    """A daemon with auth on and acme's tokens: tenant-wide, alice's, bob's."""
    path = tmp_path / "tokens.json"
    tokens = [add_token(path, "acme", user)[1] for user in (None, "alice", "bob")]
    return serve(tokens_file=path), tokens


async def test_a_user_never_reaches_another_users_thread(
    acme: tuple[LiveServer, list[str]],
) -> None:
    live, (wide, alice, bob) = acme
    for token, thread_id in ((alice, "secret"), (wide, "old")):
        with Client(live.url, token) as tk:
            tk.create(id=thread_id, title=f"{thread_id} of acme",
                      turns=[{"role": "user", "content": f"{thread_id} s3cr3t"}])  # fmt: skip
    index_now(live.settings)
    async with over_http(live.url, bob) as session:
        found = await call(session, "search", query="s3cr3t")
        listed = await call(session, "list_threads")
        refused = [
            await fail(session, "fetch", id=thread_id) for thread_id in ("secret", "old")
        ] + [
            await fail(session, "read_thread", id="secret", max_tokens=100),
            await fail(
                session, "append_turns", id="old", turns=[{"role": "user", "content": "x"}]
            ),  # fmt: skip
            await fail(session, "fork_thread", id="secret", at_seq=1),
        ]
        own = await call(session, "append_turns", id="bobs", create=True,
                         turns=[{"role": "user", "content": "bob's own"}])  # fmt: skip
        resources = await session.list_resources()
        with pytest.raises(MCPError):
            await session.read_resource("thread://secret")
    assert found["results"] == listed["threads"] == []
    for refusal in refused:
        assert (refusal["error"], refusal["reason"]) == ("thread-not-found", "never_stored")
    assert own["created"] is True
    assert [r.uri for r in resources.resources] == ["thread://bobs"]
    with Client(live.url, wide) as tk:
        assert tk.get("bobs").user_id == "bob"
        assert tk.get("old").turn_count == 1  # bob's refused append stored nothing
    async with over_http(live.url, alice) as session:
        assert "secret s3cr3t" in (await call(session, "fetch", id="secret"))["text"]
        mine = await call(session, "search", query="s3cr3t")
    assert [r["id"] for r in mine["results"]] == ["secret"]  # not the unowned "old"
    async with over_http(live.url, wide) as session:
        everyone = await call(session, "search", query="s3cr3t")
    assert sorted(r["id"] for r in everyone["results"]) == ["old", "secret"]
