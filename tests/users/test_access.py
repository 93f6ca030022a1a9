"""A user token sees only its user's threads, on every route the app has.

The routes come from the app itself (app_routes.endpoints): every route on one
thread or conversation is asked, with alice's token, about bob's thread, about a thread
no user owns and about an id never stored, and must answer the first two exactly as
the third. A new route that names no thread must be listed in TENANT_ROUTES below, with
what it shows, or this test fails naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app_routes import endpoints
from threadkeeper.auth import add_token

TURN = {"role": "user", "content": "hello"}
ITEM = {"type": "message", "role": "user", "content": "hello"}
THREAD_PARAMS = ("{thread_id}", "{conversation_id}")
# Routes that name no thread: what each shows a user token is checked by its own test below.
TENANT_ROUTES = {
    ("POST", "/v1/threads"), ("GET", "/v1/threads"), ("POST", "/v1/conversations"),
    ("GET", "/"), ("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/readyz"),
    ("GET", "/v1/health"), ("GET", "/metrics"), ("GET", "/ui/"), ("GET", "/ui/login"),
    ("POST", "/ui/login"), ("POST", "/ui/logout"), ("GET", "/ui/threads"),
    ("GET", "/ui/health"), ("GET", "/ui/static/{path:path}"),
    ("POST", "/mcp"),  # every tool calls the routes above: tests/mcp_server/test_users.py
    ("POST", "/v1/checkpoints/delete-runs"),  # tenant-wide tokens only (a user token: 403)
    ("GET", "/v1/search"), ("GET", "/ui/search"),  # tests/search/test_search_users.py
}  # fmt: skip
# A body each method carries, valid enough for any route of that method.
BODIES = {"POST": {"turns": [TURN], "at_seq": 1, "items": [ITEM]}, "PATCH": {"title": "x"}}


@dataclass
class Tenant:
    http: TestClient
    wide: str
    alice: str
    bob: str

    def as_(
        self, token: str, method: str, url: str, headers: dict[str, str] | None = None,
        **options: object,
    ) -> httpx.Response:  # fmt: skip
        headers = {"authorization": f"Bearer {token}", **(headers or {})}
        return self.http.request(method, url, headers=headers, **options)  # type: ignore[arg-type]


@pytest.fixture
def acme(make_client: Callable[..., TestClient], tmp_path: Path) -> Iterator[Tenant]:
    path = tmp_path / "tokens.json"
    tokens = [add_token(path, "acme", user)[1] for user in (None, "alice", "bob")]
    yield Tenant(make_client(tokens_file=path), *tokens)


def _seed(t: Tenant) -> None:
    for token, thread_id in ((t.bob, "b1"), (t.wide, "old"), (t.alice, "a1")):
        answer = t.as_(token, "POST", "/v1/threads", json={"id": thread_id, "turns": [TURN]})
        assert answer.status_code == 201, answer.text


def _same_as_missing(t: Tenant, method: str, template: str, thread_id: str) -> None:
    def url(of: str) -> str:
        path = template.replace("{item_id}", "msg_1").replace("{seq}", "1")
        return re.sub(r"\{(thread_id|conversation_id)\}", of, path)

    form = {"data": {"csrf": "c", **{k: str(v) for k, v in BODIES.get(method, {}).items()}}}
    options = form if template.startswith("/ui/") else {"json": BODIES.get(method)}
    t.http.cookies.set("tk_csrf", "c")
    t.http.cookies.set("tk_console", t.alice)
    seen = t.as_(t.alice, method, url(thread_id), **options)
    missing = t.as_(t.alice, method, url("never"), **options)
    where = f"{method} {url(thread_id)}"
    assert seen.status_code == missing.status_code == 404, f"{where}: {seen.text[:300]}"
    assert seen.text.replace(thread_id, "never") == missing.text, where


def test_alice_never_sees_bobs_thread_or_an_unowned_one_on_any_route(acme: Tenant) -> None:
    _seed(acme)
    routes = endpoints(acme.http.app.routes)  # type: ignore[attr-defined]
    on_a_thread = [e for e in routes if any(p in e[1] for p in THREAD_PARAMS)]
    unknown = sorted(set(routes) - set(on_a_thread) - TENANT_ROUTES)
    assert not unknown, f"routes this test does not know (classify them): {unknown}"
    assert len(on_a_thread) > 20
    for method, template in on_a_thread:
        for thread_id in ("b1", "old"):
            _same_as_missing(acme, method, template, thread_id)
    for thread_id in ("b1", "old"):  # still there, unchanged
        owner = acme.bob if thread_id == "b1" else acme.wide
        thread = acme.as_(owner, "GET", f"/v1/threads/{thread_id}").json()["thread"]
        assert (thread["version"], thread["title"], thread["turn_count"]) == (1, None, 1)


def test_listings_show_a_user_only_its_threads(acme: Tenant) -> None:
    _seed(acme)
    for token, ids in ((acme.alice, ["a1"]), (acme.bob, ["b1"]), (acme.wide, ["a1", "old", "b1"])):
        listed = acme.as_(token, "GET", "/v1/threads").json()["threads"]
        assert [t["id"] for t in listed] == ids
    refused = acme.as_(acme.alice, "GET", "/v1/threads?user_id=bob")
    assert refused.status_code == 403 and "'alice'" in refused.json()["detail"]
    mine = acme.as_(acme.alice, "GET", "/v1/threads?user_id=alice").json()["threads"]
    assert [t["id"] for t in mine] == ["a1"]


def test_the_console_shows_a_user_only_its_threads(acme: Tenant) -> None:
    _seed(acme)
    acme.http.cookies.set("tk_console", acme.alice)
    page = acme.http.get("/ui/threads", headers={"accept": "text/html"})
    assert page.status_code == 200 and 'data-id="a1"' in page.text
    assert 'data-id="b1"' not in page.text and 'data-id="old"' not in page.text


def test_a_user_creates_only_its_own_threads(acme: Tenant) -> None:
    made = acme.as_(acme.alice, "POST", "/v1/threads", json={"id": "n1"}).json()["thread"]
    assert made["user_id"] == "alice"
    same = acme.as_(acme.alice, "POST", "/v1/threads", json={"id": "n2", "user_id": "alice"})
    assert same.status_code == 201
    other = acme.as_(acme.alice, "POST", "/v1/threads", json={"id": "n3", "user_id": "bob"})
    assert other.status_code == 403 and "'alice'" in other.json()["detail"]
    wide = acme.as_(acme.wide, "POST", "/v1/threads", json={"id": "n4", "user_id": "bob"})
    assert wide.json()["thread"]["user_id"] == "bob"
    conv = acme.as_(acme.alice, "POST", "/v1/conversations", json={"items": [ITEM]}).json()
    thread = acme.as_(acme.alice, "GET", f"/v1/threads/{conv['id']}").json()["thread"]
    assert thread["user_id"] == "alice"


def test_one_users_idempotency_key_never_finds_anothers_thread(acme: Tenant) -> None:
    key = {"Idempotency-Key": "same"}
    for path, body in (("/v1/threads", {"turns": [TURN]}), ("/v1/conversations", {})):
        a = acme.as_(acme.alice, "POST", path, json=body, headers=key)
        b = acme.as_(acme.bob, "POST", path, json=body, headers=key)
        assert a.status_code in (200, 201) and b.status_code in (200, 201)
        ids = [r.json().get("id") or r.json()["thread"]["id"] for r in (a, b)]
        assert ids[0] != ids[1]


def test_only_a_tenant_wide_token_moves_a_thread_to_another_user(acme: Tenant) -> None:
    _seed(acme)
    refused = acme.as_(acme.alice, "PATCH", "/v1/threads/a1", json={"user_id": "bob"})
    assert refused.status_code == 403 and "'alice'" in refused.json()["detail"]
    moved = acme.as_(acme.wide, "PATCH", "/v1/threads/a1", json={"user_id": "bob"})
    assert moved.status_code == 200 and moved.json()["thread"]["user_id"] == "bob"
    assert acme.as_(acme.alice, "GET", "/v1/threads/a1").status_code == 404
    assert acme.as_(acme.bob, "GET", "/v1/threads/a1").status_code == 200


def test_a_users_own_deleted_thread_says_deleted_anothers_says_never_stored(acme: Tenant) -> None:
    _seed(acme)
    assert acme.as_(acme.alice, "DELETE", "/v1/threads/a1").status_code == 204
    assert acme.as_(acme.bob, "DELETE", "/v1/threads/b1").status_code == 204
    assert acme.as_(acme.alice, "GET", "/v1/threads/a1").json()["reason"] == "deleted"
    assert acme.as_(acme.alice, "GET", "/v1/threads/b1").json()["reason"] == "never_stored"


def test_old_threads_stay_the_tenant_wide_tokens(acme: Tenant) -> None:
    _seed(acme)
    base = "/v1/threads/old"
    assert acme.as_(acme.wide, "POST", f"{base}/turns", json={"turns": [TURN]}).status_code == 201
    assert acme.as_(acme.wide, "GET", base).json()["thread"]["turn_count"] == 2
    assert acme.as_(acme.alice, "GET", base).status_code == 404


def test_the_console_filters_by_user_and_metadata(acme: Tenant) -> None:
    for token, thread_id, project in ((acme.alice, "a1", "x"), (acme.bob, "b1", "x"),
                                      (acme.alice, "a2", "y")):  # fmt: skip
        body = {"id": thread_id, "metadata": {"project": project}}
        assert acme.as_(token, "POST", "/v1/threads", json=body).status_code == 201
    acme.http.cookies.set("tk_console", acme.wide)

    def shown(query: str) -> list[str]:
        page = acme.http.get(f"/ui/threads?{query}", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        return re.findall(r'<tr data-id="([^"]+)"', page.text)

    assert shown("user_id=alice") == ["a2", "a1"]
    assert shown("metadata=project%3Dx") == ["b1", "a1"]
    assert shown("user_id=alice&metadata=project%3Dx") == ["a1"]
    assert shown("") == ["a2", "b1", "a1"]
