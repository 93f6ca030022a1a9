"""GET /v1/threads/{id}/context: the newest turns within a budget, never a silent partial."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.store.connection import sync_client


def _degraded_thread(client: TestClient, redis_url: str) -> None:
    """Turns 1-2 archived, turn 3 only in Redis, then Redis loses the stream."""
    turns = [{"role": "user", "content": f"c{i}", "tokens": 10} for i in (1, 2)]
    assert client.post("/v1/threads", json={"id": "t1", "turns": turns}).status_code == 201
    assert client.post("/v1/threads/t1/archive?wait=true").json()["status"] == "archived"
    more = {"turns": [{"role": "user", "content": "c3", "tokens": 10}]}
    assert client.post("/v1/threads/t1/turns", json=more).status_code == 201
    with sync_client(redis_url) as r:
        r.delete(keys.thread_keys("default", "t1").turns)


def _context(client: TestClient, budget: int) -> tuple[dict[str, Any], dict[str, str]]:
    response = client.get(f"/v1/threads/t1/context?max_tokens={budget}")
    assert response.status_code == 200, response.text
    return response.json(), dict(response.headers)


def test_context_of_a_degraded_thread_says_which_turns_are_missing(
    client: TestClient, redis_url: str
) -> None:
    _degraded_thread(client, redis_url)

    body, headers = _context(client, 1000)

    assert [t["content"] for t in body["turns"]] == ["c1", "c2"]
    assert body["missing_turns"] == [3, 3] and "turns 3-3 are missing" in body["detail"]
    assert headers["threadkeeper-degraded"] == "missing-turns=3-3"
    assert (body["tokens"], body["omitted"]) == (20, 0)  # lost turns are not "omitted"


def test_context_of_a_degraded_thread_counts_only_held_turns_as_omitted(
    client: TestClient, redis_url: str
) -> None:
    _degraded_thread(client, redis_url)

    body, _ = _context(client, 15)

    assert [t["content"] for t in body["turns"]] == ["c2"]
    assert (body["omitted"], body["missing_turns"]) == (1, [3, 3])


def test_context_of_a_whole_thread_has_no_missing_turns(client: TestClient) -> None:
    turns = [{"role": "user", "content": "c1", "tokens": 10}]
    client.post("/v1/threads", json={"id": "t1", "turns": turns})
    body, headers = _context(client, 1000)
    assert "missing_turns" not in body and "threadkeeper-degraded" not in headers
    assert body["omitted"] == 0
