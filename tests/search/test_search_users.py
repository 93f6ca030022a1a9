"""Search and user tokens: a user token finds its own threads' turns only (API, console),
a tenant-wide token finds every thread's, and a change of owner reaches the index."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from search_support import index_now
from threadkeeper.auth import add_token
from threadkeeper.settings import Settings

ZEBRA = [{"role": "user", "content": "the zebra crossing"}]


@dataclass
class Tenant:
    http: TestClient
    settings: Settings
    wide: str
    alice: str
    bob: str

    def as_(self, token: str, method: str, url: str, **options: object) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        return self.http.request(method, url, headers=headers, **options)  # type: ignore[arg-type]

    def found(self, token: str, q: str = "zebra", **params: str) -> list[str]:
        answer = self.as_(token, "GET", "/v1/search", params={"q": q, **params})
        assert answer.status_code == 200, answer.text
        return sorted(hit["thread_id"] for hit in answer.json()["results"])


@pytest.fixture
def acme(make_client: Callable[..., TestClient], tmp_path: Path) -> Iterator[Tenant]:
    path = tmp_path / "tokens.json"
    tokens = [add_token(path, "acme", user)[1] for user in (None, "alice", "bob")]
    http = make_client(tokens_file=path)
    t = Tenant(http, http.app.state.settings, *tokens)  # type: ignore[attr-defined]
    # bob's, a thread no user owns, and alice's, each with two turns saying "zebra"
    for token, thread_id in ((t.bob, "b1"), (t.wide, "old"), (t.alice, "a1")):
        body = {"id": thread_id, "turns": ZEBRA * 2}
        assert t.as_(token, "POST", "/v1/threads", json=body).status_code == 201
    index_now(t.settings)
    yield t


def test_a_user_token_finds_only_its_own_threads(acme: Tenant) -> None:
    assert acme.found(acme.alice) == ["a1", "a1"]
    assert acme.found(acme.bob) == ["b1", "b1"]
    assert acme.found(acme.wide) == ["a1", "a1", "b1", "b1", "old", "old"]
    assert acme.found(acme.wide, user_id="bob") == ["b1", "b1"]
    assert acme.found(acme.alice, user_id="alice") == ["a1", "a1"]


def test_the_owner_is_filtered_before_the_page_is_cut(acme: Tenant) -> None:
    """Paging one hit at a time, alice reaches both her turns and nothing else."""
    seen, cursor = [], None
    for _ in range(5):
        params = {"q": "zebra", "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = acme.as_(acme.alice, "GET", "/v1/search", params=params).json()
        seen += [(h["thread_id"], h["seq"]) for h in page["results"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [("a1", 1), ("a1", 2)]


def test_a_user_token_cannot_search_another_users_threads(acme: Tenant) -> None:
    refused = acme.as_(acme.alice, "GET", "/v1/search", params={"q": "zebra", "user_id": "bob"})
    assert refused.status_code == 403, refused.text
    assert "'alice'" in refused.json()["detail"]


def test_the_console_search_shows_a_user_only_its_threads(acme: Tenant) -> None:
    def linked(token: str) -> set[str]:
        acme.http.cookies.set("tk_console", token)
        page = acme.http.get("/ui/search?q=zebra", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        return set(re.findall(r'href="/ui/threads/([^"?]+)\?after=', page.text))

    assert linked(acme.alice) == {"a1"}
    assert linked(acme.wide) == {"a1", "b1", "old"}


def test_a_new_owner_reaches_the_index(acme: Tenant) -> None:
    """PATCH user_id (tenant-wide) is a 'meta' feed event: the indexer re-reads the owner."""
    moved = acme.as_(acme.wide, "PATCH", "/v1/threads/a1", json={"user_id": "bob"})
    assert moved.status_code == 200, moved.text
    adopted = acme.as_(acme.wide, "PATCH", "/v1/threads/old", json={"user_id": "alice"})
    assert adopted.status_code == 200, adopted.text
    index_now(acme.settings)
    assert acme.found(acme.alice) == ["old", "old"]
    assert acme.found(acme.bob) == ["a1", "a1", "b1", "b1"]
    released = acme.as_(acme.wide, "PATCH", "/v1/threads/old", json={"user_id": None})
    assert released.status_code == 200, released.text
    index_now(acme.settings)
    assert acme.found(acme.alice) == []
    assert acme.found(acme.wide) == ["a1", "a1", "b1", "b1", "old", "old"]
