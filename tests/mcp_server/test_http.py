"""/mcp behind the API's bearer tokens: refused without one, and a tenant's token reaches
that tenant's threads only, whatever the tool or resource."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_support import call, fail, over_http

from live_server import LiveServer
from search_support import index_now
from threadkeeper.auth import add_token
from threadkeeper.client import Client

pytestmark = pytest.mark.anyio

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "test", "version": "0"}}}  # fmt: skip
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def tenants(tmp_path: Path, serve: Callable[..., LiveServer]) -> tuple[LiveServer, str, str]:
    """A daemon with auth on and two tenants' tokens: alice's, then bob's."""
    path = tmp_path / "tokens.json"
    _, alice = add_token(path, "alice")
    _, bob = add_token(path, "bob")
    return serve(tokens_file=path), alice, bob


def test_no_token_is_refused_with_the_api_problem(tenants: tuple[LiveServer, str, str]) -> None:
    live, alice, _ = tenants
    bare = httpx.post(f"{live.url}/mcp", json=INIT, headers=ACCEPT)
    wrong = httpx.post(
        f"{live.url}/mcp", json=INIT, headers=ACCEPT | {"Authorization": "Bearer nope"}
    )
    good = httpx.post(
        f"{live.url}/mcp", json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {alice}"}
    )
    assert bare.status_code == wrong.status_code == 401
    assert bare.headers["content-type"] == "application/problem+json"
    assert "tokens add" in bare.json()["detail"] and "unknown or revoked" in wrong.json()["detail"]
    assert good.status_code == 200 and good.json()["result"]["serverInfo"]["name"] == "threadkeeper"


async def test_the_sdk_client_without_a_token_is_refused(
    tenants: tuple[LiveServer, str, str],
) -> None:
    live, _, _ = tenants
    with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap its error
        async with over_http(live.url):
            pass
    assert refused.value.subgroup(MCPError) is not None  # "Server returned an error response"


async def test_a_tenant_never_reaches_another_tenants_threads(
    tenants: tuple[LiveServer, str, str],
) -> None:
    live, alice, bob = tenants
    with Client(live.url, alice) as tk:
        tk.create(
            id="secret", title="Alice's secret", turns=[{"role": "user", "content": "s3cr3t"}]
        )
    index_now(live.settings)
    async with over_http(live.url, bob) as session:
        found = await call(session, "search", query="")
        titled = await call(session, "search", query="s3cr3t")
        listed = await call(session, "list_threads")
        fetched = await fail(session, "fetch", id="secret")
        read = await fail(session, "read_thread", id="secret", max_tokens=100)
        appended = await fail(
            session, "append_turns", id="secret", turns=[{"role": "user", "content": "x"}]
        )
        forked = await fail(session, "fork_thread", id="secret", at_seq=1)
        own = await call(session, "append_turns", id="secret", create=True,
                         turns=[{"role": "user", "content": "bob's own"}])  # fmt: skip
        resources = await session.list_resources()
        bobs = await call(session, "fetch", id="secret")
    async with over_http(live.url, alice) as session:
        alices = await call(session, "fetch", id="secret")
        with pytest.raises(MCPError):
            await session.read_resource("thread://nothing-of-alices")
    assert found["results"] == titled["results"] == listed["threads"] == []
    for refusal in (fetched, read, appended, forked):
        assert (refusal["error"], refusal["reason"]) == ("thread-not-found", "never_stored")
    assert own["created"] is True
    assert [r.uri for r in resources.resources] == ["thread://secret"]  # bob's, made just now
    assert "bob's own" in bobs["text"] and "s3cr3t" not in bobs["text"]
    assert "s3cr3t" in alices["text"] and "bob's own" not in alices["text"]


async def test_auth_off_serves_the_default_tenant(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="mine", turns=[{"role": "user", "content": "hello"}])
    async with over_http(live.url) as session:
        listed = await call(session, "list_threads")
    assert [t["id"] for t in listed["threads"]] == ["mine"]
