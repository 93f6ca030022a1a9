"""Search across tenants and tiers: an evicted thread is found from its snapshot, a
retention-expired one is not, and a tenant sees nothing of another's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import redis
from starlette.testclient import TestClient

from local_client import local_client
from search_support import index_now
from threadkeeper import keys
from threadkeeper.api import create_app
from threadkeeper.auth import add_token
from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import sync_client

DAY = 86400


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def results(client: TestClient, q: str, **headers: str) -> list[dict[str, object]]:
    response = client.get("/v1/search", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]  # type: ignore[no-any-return]


def test_an_archived_evicted_thread_is_found_without_rehydrating_it(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    turns = [{"role": "user", "content": "the lighthouse keeper's logbook"}]
    with local_client(create_app(settings)) as client:
        assert client.post("/v1/threads", json={"id": "old", "turns": turns}).status_code == 201
        archived = client.post("/v1/threads/old/archive", params={"wait": "true"})
        assert archived.status_code == 200, archived.text
        k = keys.thread_keys("default", "old")
        hot: redis.Redis = sync_client(settings.redis_url or "")
        try:
            hot.delete(k.turns, k.idempotency)  # what the hot TTL's lapse does
            index_now(settings, rebuild=True)  # the rebuild reads it from the snapshot
            assert [h["thread_id"] for h in results(client, "lighthouse")] == ["old"]
            assert hot.exists(k.turns) == 0  # found, not rehydrated
        finally:
            hot.close()


async def _expire(settings: Settings, thread_id: str) -> str:
    runtime = build_runtime(settings)
    try:
        later = runtime.store.clock() + 2 * DAY * 1000
        runtime.store.clock = lambda: later
        return await runtime.tiering.remover.apply_retention("default", thread_id)
    finally:
        await runtime.close()


def test_a_thread_removed_by_retention_is_not_found(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(retention=DAY)
    turns = [{"role": "user", "content": "an expiring albatross"}]
    with local_client(create_app(settings)) as client:
        client.post("/v1/threads", json={"id": "expiring", "turns": turns})
        index_now(settings)
        assert len(results(client, "albatross")) == 1
        assert asyncio.run(_expire(settings, "expiring")) == "deleted"
        index_now(settings)
        assert results(client, "albatross") == []
        index_now(settings, rebuild=True)
        assert results(client, "albatross") == []


def test_a_tenant_finds_nothing_of_another_tenants(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    _, alice = add_token(path, "alice")
    _, bob = add_token(path, "bob")
    settings = make_settings(tokens_file=path)
    with local_client(create_app(settings)) as client:
        secret = [{"role": "user", "content": "alice's secret saffron plan"}]
        client.post("/v1/threads", json={"id": "s", "turns": secret}, headers=bearer(alice))
        mine = [{"role": "user", "content": "bob's saffron too"}]
        client.post("/v1/threads", json={"id": "b", "turns": mine}, headers=bearer(bob))
        index_now(settings)
        assert [h["snippet"] for h in results(client, "saffron", **bearer(bob))] == [
            "bob's saffron too"
        ]
        assert results(client, "secret", **bearer(bob)) == []
        as_bob = client.get("/v1/search", params={"q": "secret", "limit": "1"},
                            headers=bearer(bob)).json()  # fmt: skip
        assert as_bob == {"results": [], "next": None}  # no count, no cursor, nothing
        assert len(results(client, "secret", **bearer(alice))) == 1
