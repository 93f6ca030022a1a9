"""GET /v1/search: ranked hits per turn, scoped to the tenant, deletion means not found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from local_client import local_client
from search_support import index_now
from threadkeeper.settings import Settings

TURNS = [
    {"role": "user", "content": "How do I shard the sessions table in Postgres?"},
    {"role": "assistant", "content": "Partition sessions by tenant with declarative partitioning."},
]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def api(settings: Settings) -> Any:
    from threadkeeper.api import create_app

    with local_client(create_app(settings)) as client:
        yield client


def found(api: TestClient, q: str, **params: str) -> list[tuple[str, int]]:
    response = api.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [(h["thread_id"], h["seq"]) for h in response.json()["results"]]


def test_words_phrases_and_prefixes_find_turns(api: TestClient, settings: Settings) -> None:
    created = api.post("/v1/threads", json={"id": "pg", "title": "db", "turns": TURNS})
    assert created.status_code == 201
    api.post("/v1/threads", json={"id": "other", "turns": [{"role": "user", "content": "hello"}]})
    index_now(settings)
    assert found(api, "sessions") and set(found(api, "sessions")) == {("pg", 1), ("pg", 2)}
    assert found(api, '"declarative partitioning"') == [("pg", 2)]
    assert found(api, "partit*") == [("pg", 2)]
    assert found(api, "shard postgres") == [("pg", 1)]
    assert found(api, "nothing-like-this") == []
    hit = api.get("/v1/search", params={"q": "postgres"}).json()["results"][0]
    assert hit["title"] == "db" and hit["role"] == "user" and hit["score"] > 0
    start, end = hit["highlights"][0]
    assert hit["snippet"][start:end] == "Postgres"


def test_deleted_thread_turn_and_edited_text_are_not_found(
    api: TestClient, settings: Settings
) -> None:
    api.post("/v1/threads", json={"id": "a", "turns": TURNS})
    zebra = [{"role": "user", "content": "zebra crossing"}]
    api.post("/v1/threads", json={"id": "b", "turns": zebra})
    index_now(settings)
    assert found(api, "zebra") == [("b", 1)]
    assert api.delete("/v1/threads/b").status_code == 204
    assert api.delete("/v1/threads/a/turns/1").status_code == 200
    edited = api.patch("/v1/threads/a/turns/2", json={"content": "use Citus instead"})
    assert edited.status_code == 200
    index_now(settings)
    assert found(api, "zebra") == []
    assert found(api, "shard") == []
    assert found(api, "declarative") == []
    assert found(api, "citus") == [("a", 2)]
    index_now(settings, rebuild=True)  # a rebuild brings none of it back
    assert found(api, "zebra") == found(api, "shard") == found(api, "declarative") == []
    assert found(api, "citus") == [("a", 2)]


def test_appends_are_found_and_filters_apply(api: TestClient, settings: Settings) -> None:
    api.post("/v1/threads", json={"id": "a", "tool": "pal", "turns": TURNS})
    index_now(settings)
    more = {"turns": [{"role": "user", "content": "and what about vacuum?"}]}
    assert api.post("/v1/threads/a/turns", json=more).status_code == 201
    index_now(settings)
    assert found(api, "vacuum") == [("a", 3)]
    assert found(api, "vacuum", tool="pal") == [("a", 3)]
    assert found(api, "vacuum", tool="other") == []
    assert found(api, "vacuum", updated_after="2999-01-01T00:00:00Z") == []


def test_paging_walks_every_hit_once(api: TestClient, settings: Settings) -> None:
    turns = [{"role": "user", "content": f"needle number {i}"} for i in range(7)]
    api.post("/v1/threads", json={"id": "many", "turns": turns})
    index_now(settings)
    seen, cursor = [], None
    while True:
        params = {"q": "needle", "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = api.get("/v1/search", params=params).json()
        seen += [h["seq"] for h in body["results"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, 8))
    other = api.get("/v1/search", params={"q": "number", "cursor": cursor or "x"})
    assert other.status_code == 400


@pytest.mark.parametrize("q", ["", "   ", '""', "*", "-"])
def test_an_empty_query_is_a_400_naming_the_limit(api: TestClient, q: str) -> None:
    response = api.get("/v1/search", params={"q": q})
    assert response.status_code == 400
    assert "THREADKEEPER_MAX_SEARCH_QUERY" in response.json()["detail"]


def test_an_oversized_query_is_a_400_naming_the_limit(api: TestClient) -> None:
    response = api.get("/v1/search", params={"q": "x" * 257})
    assert response.status_code == 400
    body = response.json()
    assert body["limit"] == 256 and body["setting"] == "THREADKEEPER_MAX_SEARCH_QUERY"
    many = api.get("/v1/search", params={"q": " ".join(["w"] * 17)})
    assert many.status_code == 400 and many.json()["setting"] == "THREADKEEPER_MAX_SEARCH_TERMS"


def test_before_the_index_is_built_search_is_a_503(api: TestClient) -> None:
    response = api.get("/v1/search", params={"q": "anything"})
    assert response.status_code == 503
    assert "threadkeeper indexer" in response.json()["detail"]


def test_the_index_lag_shows_in_health_and_metrics(api: TestClient, settings: Settings) -> None:
    assert api.get("/v1/health").json()["search"] == {"built": False, "lag_seconds": None}
    index_now(settings)
    assert api.get("/v1/health").json()["search"] == {"built": True, "lag_seconds": 0.0}
    api.post("/v1/threads", json={"id": "late", "turns": TURNS})  # not indexed yet
    search = api.get("/v1/health").json()["search"]
    assert search["built"] is True and search["lag_seconds"] >= 0
    assert "threadkeeper_search_lag_seconds" in api.get("/metrics").text


def test_control_characters_in_q_separate_words(api: TestClient, settings: Settings) -> None:
    """FTS5 reads its query as a C string: a NUL must not cut a quoted term (a 503)."""
    api.post(
        "/v1/threads", json={"id": "z", "turns": [{"role": "user", "content": "zebra crossing"}]}
    )
    index_now(settings)
    assert found(api, "zebra\x00crossing") == [("z", 1)]
    assert found(api, '"zebra\x00crossing"') == [("z", 1)]
    assert found(api, "\x00\x01zebra\x7f") == [("z", 1)]
