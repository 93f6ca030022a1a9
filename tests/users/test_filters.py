"""Listings by owner and by metadata: exact order, every page, bounded, on both kinds of Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

TURN = {"role": "user", "content": "hi"}
SCAN = 5  # THREADKEEPER_MAX_LIST_SCAN: a scanning listing stops after this many rows


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(indexed_metadata=("project",), limits=_limits(SCAN))


def _limits(scan: int) -> Any:
    from threadkeeper.settings import Limits

    return Limits(max_list_scan=scan)


def _all(client: TestClient, query: str, limit: int = 2) -> tuple[list[str], int]:
    """Every id a listing gives, page after page, and how many pages it took."""
    ids: list[str] = []
    url, pages = f"/v1/threads?limit={limit}&{query}", 0
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        ids += [t["id"] for t in page.json()["threads"]]
        pages += 1
        cursor = page.json()["next"]
        url = f"/v1/threads?limit={limit}&cursor={cursor}" if cursor else ""
    return ids, pages


def _seed(client: TestClient) -> dict[str, dict[str, Any]]:
    """30 threads: owners and projects interleaved, then a few written again (reordered)."""
    made: dict[str, dict[str, Any]] = {}
    for n in range(30):
        body: dict[str, Any] = {"id": f"t{n:02d}", "turns": [TURN]}
        if n % 3:
            body["user_id"] = "alice" if n % 3 == 1 else "bob"
        body["metadata"] = {"project": "apollo" if n % 2 else "gemini", "env": str(n % 4)}
        assert client.post("/v1/threads", json=body).status_code == 201
        made[body["id"]] = body
    for thread_id in ("t01", "t04", "t02"):  # later writes move them to the front
        client.post(f"/v1/threads/{thread_id}/turns", json={"turns": [TURN]})
    return made


def _expected(client: TestClient, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    everything = client.get("/v1/threads?limit=100").json()["threads"]
    return [t["id"] for t in everything if keep(t)]


def test_by_owner_exact_in_order_over_pages(client: TestClient) -> None:
    _seed(client)
    for user in ("alice", "bob"):
        ids, _ = _all(client, f"user_id={user}")
        assert ids == _expected(client, lambda t, u=user: t["user_id"] == u)  # type: ignore[misc]
        assert ids[0] == ("t04" if user == "alice" else "t02")


def test_an_indexed_key_lists_exactly_without_scanning(client: TestClient) -> None:
    _seed(client)
    ids, pages = _all(client, "metadata.project=apollo", limit=20)
    assert ids == _expected(client, lambda t: t["metadata"]["project"] == "apollo")
    assert pages == 1  # 15 of 30 in one page: a scan would have stopped after SCAN rows
    both, _ = _all(client, "user_id=alice&metadata.project=apollo")
    assert both == _expected(
        client, lambda t: t["user_id"] == "alice" and t["metadata"]["project"] == "apollo"
    )


def test_a_key_not_indexed_is_scanned_boundedly_and_still_exact(client: TestClient) -> None:
    _seed(client)
    first = client.get("/v1/threads?limit=20&metadata.env=3").json()
    assert len(first["threads"]) < 20 and first["next"]  # stopped after SCAN rows: resumable
    ids, _ = _all(client, "metadata.env=3&metadata.project=apollo", limit=20)
    assert ids == _expected(
        client, lambda t: t["metadata"]["env"] == "3" and t["metadata"]["project"] == "apollo"
    )


def test_a_thread_moves_between_listings_when_changed_or_deleted(client: TestClient) -> None:
    _seed(client)
    client.patch("/v1/threads/t01", json={"user_id": "bob", "metadata": {"project": "gemini"}})
    assert "t01" not in _all(client, "user_id=alice")[0]
    assert _all(client, "user_id=bob")[0][0] == "t01"
    assert "t01" not in _all(client, "metadata.project=apollo")[0]
    assert "t01" in _all(client, "metadata.project=gemini")[0]
    client.delete("/v1/threads/t04")
    assert "t04" not in _all(client, "user_id=alice")[0]
    client.patch("/v1/threads/t07", json={"user_id": None})
    assert "t07" not in _all(client, "user_id=alice")[0]
    assert client.get("/v1/threads/t07").json()["thread"]["user_id"] is None


def test_a_fork_is_listed_with_its_parents_owner(client: TestClient) -> None:
    _seed(client)
    client.post("/v1/threads/t10/fork", json={"at_seq": 1, "id": "f10"})
    assert _all(client, "user_id=alice")[0][0] == "f10"


def test_bad_filters_say_what_to_send(client: TestClient) -> None:
    assert "user_id" in client.get("/v1/threads?user_id=a:b").json()["detail"]
    assert "metadata.KEY" in client.get("/v1/threads?metadata.=x").json()["detail"]
