"""The console over HTTP (no browser): redirects, login cookie, CSRF, filters, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.auth import add_token
from threadkeeper.settings import Limits
from threadkeeper.store.connection import sync_client

MakeClient = Callable[..., TestClient]
HTML = {"accept": "text/html,application/xhtml+xml"}


def _csrf(client: TestClient) -> str:
    client.get("/ui/threads")
    value = client.cookies.get("tk_csrf")
    assert value
    return value


def test_root_sends_browsers_to_the_console_and_others_links(client: TestClient) -> None:
    r = client.get("/", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    r = client.get("/", headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json()["links"]["console"] == "/ui"
    for start in ("/ui", "/ui/"):
        assert client.get(start, headers=HTML).url.path == "/ui/threads"


def test_pages_say_what_they_allow(client: TestClient) -> None:
    r = client.get("/ui/threads")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    set_cookie = r.headers["set-cookie"].lower()
    assert "tk_csrf=" in set_cookie and "httponly" in set_cookie and "samesite=strict" in set_cookie
    css = client.get("/ui/static/console.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_a_post_without_the_pages_csrf_value_changes_nothing(client: TestClient) -> None:
    assert client.post("/v1/threads", json={"id": "keep", "turns": []}).status_code == 201
    csrf = _csrf(client)
    for form, headers in (
        ({}, {}),  # no value
        ({"csrf": "guessed"}, {}),  # not the cookie's
        ({"csrf": csrf}, {"origin": "https://evil.example"}),  # the value, from another site
    ):
        r = client.post("/ui/threads/keep/delete", data=form, headers=headers)
        assert r.status_code == 403, (form, headers)
        assert "reload the page" in r.text or "refused" in r.text
    assert client.get("/v1/threads/keep").status_code == 200
    r = client.post("/ui/threads/keep/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/v1/threads/keep").json()["reason"] == "deleted"


def test_with_tokens_the_console_asks_once_and_keeps_it_httponly(
    make_client: MakeClient, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    _, alice = add_token(tokens, "alice")
    client = make_client(tokens_file=tokens)
    r = client.get("/ui/threads?tool=chat", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=/ui/threads%3Ftool%3Dchat"
    assert client.get("/ui/health", follow_redirects=False).status_code == 303
    csrf = _csrf(client)
    bad = client.post("/ui/login", data={"csrf": csrf, "token": "tk_wrong"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    r = client.post("/ui/login", data={"csrf": csrf, "token": alice, "next": "//evil.example/"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/ui/threads"  # never off-site
    cookie = r.headers["set-cookie"].lower()
    assert "tk_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/ui/threads").status_code == 200
    assert client.get("/ui/health").status_code == 200
    client.post("/ui/logout", data={"csrf": csrf})
    assert client.get("/ui/threads", follow_redirects=False).status_code == 303


def test_an_unknown_thread_is_a_page_that_says_so(client: TestClient) -> None:
    r = client.get("/ui/threads/nope")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "never_stored" in r.text and "check the id" in r.text
    assert client.get("/ui/threads/bad%20id").status_code == 400


def test_turn_pages_show_missing_turns(client: TestClient, redis_url: str) -> None:
    turns = [{"role": "user", "content": f"t{n}"} for n in range(1, 6)]
    assert client.post("/v1/threads", json={"id": "gap", "turns": turns}).status_code == 201
    conn = sync_client(redis_url)
    conn.xdel(keys.thread_keys("default", "gap").turns, "0-2", "0-3")
    conn.close()
    html = client.get("/ui/threads/gap").text
    assert 'data-missing="2-3"' in html
    assert 'data-seq="1"' in html and 'data-seq="4"' in html


def test_the_threads_page_filters_and_says_when_a_search_stopped(make_client: MakeClient) -> None:
    client = make_client(limits=Limits(max_list_scan=3))
    for n in range(10):
        title = "needle" if n == 0 else f"hay {n}"
        assert client.post("/v1/threads", json={"id": f"t{n}", "title": title}).status_code == 201
    html = client.get("/ui/threads?prefix=hay%205").text
    assert 'data-id="t5"' in html and 'data-id="t4"' not in html
    html = client.get("/ui/threads?prefix=needle&limit=2").text
    assert 'id="search-stopped"' in html and "Search older threads" in html


def test_a_fork_at_a_seq_not_in_ascii_digits_is_400(client: TestClient) -> None:
    turns = [{"role": "user", "content": f"t{n}"} for n in range(1, 3)]
    assert client.post("/v1/threads", json={"id": "f", "turns": turns}).status_code == 201
    csrf = _csrf(client)
    for at_seq in ("²", "١", "１", "1" * 5000, ""):
        r = client.post("/ui/threads/f/fork", data={"csrf": csrf, "at_seq": at_seq})
        assert r.status_code == 400, (at_seq, r.status_code)
        assert "digits 0-9" in r.text
    assert client.get("/v1/threads?limit=10").json()["threads"][0]["id"] == "f"
    assert len(client.get("/v1/threads?limit=10").json()["threads"]) == 1


def test_a_turn_deleted_by_request_says_when_not_missing(
    client: TestClient, redis_url: str
) -> None:
    turns = [{"role": "user", "content": f"t{n}"} for n in range(1, 7)]
    assert client.post("/v1/threads", json={"id": "del", "turns": turns}).status_code == 201
    deleted = [client.delete(f"/v1/threads/del/turns/{seq}").json() for seq in (2, 3)]
    assert all(d["changed"] for d in deleted)
    conn = sync_client(redis_url)
    conn.xdel(keys.thread_keys("default", "del").turns, "0-5")  # this one truly held nowhere
    conn.close()
    api = client.get("/v1/threads/del")
    assert "threadkeeper-degraded" not in api.headers  # deleted is not missing, for the API
    html = client.get("/ui/threads/del").text
    for seq in (2, 3):
        said = client.patch(f"/v1/threads/del/turns/{seq}", json={"content": "x"}).json()
        assert f'data-deleted="{seq}"' in html and f'datetime="{said["deleted_at"]}"' in html
    assert html.count("Deleted by request at") == 2
    assert 'data-missing="5-5"' in html and 'data-missing="2' not in html
    assert html.count("Nothing holds") == 1
