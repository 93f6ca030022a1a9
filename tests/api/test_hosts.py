"""DNS rebinding: with auth off only loopback names (and THREADKEEPER_ALLOWED_HOSTS) are
served, on every route; with auth on, the token guards and the allow-list, if set, holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from threadkeeper.auth import add_token

MakeClient = Callable[..., TestClient]
STRANGER = "attacker.example:8873"


def _refused(r: object) -> None:
    assert r.status_code == 400, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["setting"] == "THREADKEEPER_ALLOWED_HOSTS" and "rebinding" in body["detail"]


def test_with_auth_off_a_stranger_host_reads_and_changes_nothing(client: TestClient) -> None:
    assert client.post("/v1/threads", json={"id": "mine", "turns": []}).status_code == 201
    for method, path in (("GET", "/v1/threads"), ("GET", "/v1/threads/mine"),
                         ("DELETE", "/v1/threads/mine"), ("GET", "/ui/threads"),
                         ("GET", "/v1/conversations/mine"), ("GET", "/healthz"),
                         ("POST", "/mcp")):  # fmt: skip
        _refused(client.request(method, path, headers={"host": STRANGER}))
    # The console's own checks pass for a rebound page (its Host and Origin agree): not now.
    client.get("/ui/threads")
    csrf = client.cookies["tk_csrf"]
    r = client.post("/ui/threads/mine/archive", data={"csrf": csrf},
                    headers={"host": STRANGER, "origin": f"http://{STRANGER}"})  # fmt: skip
    _refused(r)
    thread = client.get("/v1/threads/mine").json()["thread"]
    assert thread["state"] == "hot" and thread["archived_version"] == 0


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.2", "127.0.0.1:8750", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8750"],
)
def test_loopback_names_on_any_port_are_served(client: TestClient, host: str) -> None:
    assert client.get("/v1/threads", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1.attacker.example", "localhost.attacker.example",
                                  "", "a@127.0.0.1", "127.0.0.1:x"])  # fmt: skip
def test_names_that_only_look_local_are_refused(client: TestClient, host: str) -> None:
    assert client.get("/v1/threads", headers={"host": host}).status_code == 400


def test_the_allow_list_adds_names(make_client: MakeClient) -> None:
    client = make_client(allowed_hosts=("box.lan", "*.corp.example"))
    for host in ("box.lan:8750", "api.corp.example", "localhost"):
        assert client.get("/v1/threads", headers={"host": host}).status_code == 200, host
    for host in ("corp.example", "box.lan.evil.example", STRANGER):
        assert client.get("/v1/threads", headers={"host": host}).status_code == 400, host


def test_with_auth_on_the_token_guards_and_the_list_if_set(
    make_client: MakeClient, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    _, token = add_token(tokens, "alice")
    bearer = {"authorization": f"Bearer {token}"}
    open_client = make_client(tokens_file=tokens)
    assert open_client.get("/v1/threads", headers={"host": STRANGER}).status_code == 401
    r = open_client.get("/v1/threads", headers={"host": STRANGER, **bearer})
    assert r.status_code == 200
    listed = make_client(tokens_file=tokens, allowed_hosts=("api.example",))
    for host in ("api.example", "localhost:8750", "127.0.0.1"):
        assert listed.get("/v1/threads", headers={"host": host, **bearer}).status_code == 200
    r = listed.get("/v1/threads", headers={"host": STRANGER, **bearer})
    assert r.status_code == 400 and "THREADKEEPER_ALLOWED_HOSTS" in r.json()["detail"]


def test_an_endpoint_mounted_later_is_guarded_too(client: TestClient) -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    client.app.router.routes.append(Mount("/later", routes=[Route("/", hello)]))  # type: ignore[attr-defined]
    assert client.get("/later/").text == "hello"
    _refused(client.get("/later/", headers={"host": STRANGER}))
