"""Bad input: a 4xx problem that names the limit and its setting; nothing stored, nothing hurt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from local_client import local_client
from threadkeeper.settings import Limits
from threadkeeper.wire.nesting import nesting_over


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


@pytest.fixture
def small(make_client: Callable[..., TestClient]) -> TestClient:
    limits = Limits(
        max_turn_bytes=100, max_turns=5, max_body_bytes=2000, max_metadata_bytes=64, max_page=10
    )
    client = make_client(limits=limits)
    r = client.post("/v1/threads", json={"id": "t1", "turns": [user("kept")]})
    assert r.status_code == 201
    return client


def assert_untouched(client: TestClient) -> None:
    body = client.get("/v1/threads/t1").json()
    assert body["thread"]["turn_count"] == 1 and body["thread"]["version"] == 1
    assert [t["content"] for t in body["turns"]] == ["kept"]


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


@pytest.mark.parametrize("bad_id", ["has space", "a" * 129, "dot.dot", "semi;colon", "üñí", "x:y"])
def test_ids_outside_the_pattern_are_refused(small: TestClient, bad_id: str) -> None:
    body = problem(small.post("/v1/threads", json={"id": bad_id}), 400)
    assert "A-Z, a-z, 0-9" in body["detail"]


def test_a_bad_id_in_the_path_is_refused(small: TestClient) -> None:
    body = problem(small.get("/v1/threads/bad.id"), 400)
    assert "not valid" in body["detail"]


def test_an_oversized_turn_names_its_limit_and_setting(small: TestClient) -> None:
    r = small.post("/v1/threads/t1/turns", json={"turns": [user("ok"), user("x" * 101)]})
    body = problem(r, 413)
    assert body["setting"] == "THREADKEEPER_MAX_TURN_BYTES" and body["limit"] == 100
    assert "turns[1]" in body["detail"]
    assert_untouched(small)


def test_an_oversized_body_is_refused_before_it_is_read(small: TestClient) -> None:
    r = small.post("/v1/threads/t1/turns", json={"turns": [user("y" * 50)] * 60})
    body = problem(r, 413)
    assert body["setting"] == "THREADKEEPER_MAX_BODY_BYTES"
    assert_untouched(small)


def test_oversized_metadata_is_refused(small: TestClient) -> None:
    r = small.post("/v1/threads", json={"id": "t2", "metadata": {"k": "v" * 100}})
    assert problem(r, 413)["setting"] == "THREADKEEPER_MAX_METADATA_BYTES"
    assert small.get("/v1/threads/t2").json()["reason"] == "never_stored"


def test_too_many_turns_leaves_the_thread_as_it_was(small: TestClient) -> None:
    r = small.post("/v1/threads/t1/turns", json={"turns": [user("a")] * 5})
    body = problem(r, 413)
    assert body["setting"] == "THREADKEEPER_MAX_TURNS" and "fork" in body["detail"]
    assert_untouched(small)
    assert small.post("/v1/threads/t1/turns", json={"turns": [user("a")] * 4}).status_code == 201


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (b'{"turns": "nope"}', "non-empty list"),
        (b'{"turns": []}', "non-empty list"),
        (b'{"turns": [{"role": "user"}]}', "content must be a string"),
        (b'{"turns": [{"role": "user", "content": 5}]}', "content must be a string"),
        (b'{"turns": [{"role": "wizard", "content": "x"}]}', "use one of user, assistant"),
        (b'{"turns": [{"role": "user", "content": "x", "files": "a"}]}', "list of strings"),
        (b'{"turns": [{"role": "user", "content": "x", "tokens": -1}]}', "between 0 and"),
        (b'{"turns": [{"role": "user", "content": "x", "colour": 1}]}', "unknown field"),
        (b'{"turns": [{"role": "user", "content": "x", "tokens": 1e400}]}', "whole number"),
        (
            b'{"turns": [{"role": "user", "content": "x", "tokens": 99999999999999999999}]}',
            "between",
        ),
        (b'{"turns": [{"role": "user", "content": "\\ud800"}]}', "not valid Unicode"),
        (b'{"turns": [{"role": "user", "content": "x", "model": "\\udfff"}]}', "not valid Unicode"),
        (
            b'{"turns": [{"role": "user", "content": "x", "metadata": {"n": 1'
            + b"0" * 30
            + b"}}]}",
            "beyond 64 bits",
        ),
        (
            b'{"turns": [{"role": "user", "content": "x", "metadata": {"a": '
            + b"[" * 40
            + b"]" * 40
            + b"}}]}",
            "nests deeper",
        ),
        (b'{"turns": [{"role": "user", "content": "x"}], "expected_version": "7"}', "whole"),
    ],
)
def test_malformed_appends_are_400_and_store_nothing(
    small: TestClient, raw: bytes, expected: str
) -> None:
    r = small.post(
        "/v1/threads/t1/turns", content=raw, headers={"content-type": "application/json"}
    )
    body = problem(r, 400)
    assert expected in body["detail"]
    assert_untouched(small)


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=11", "limit=x", "order=sideways", "after=-1", "cursor=garbage"]
)
def test_bad_read_parameters_are_400(small: TestClient, query: str) -> None:
    problem(small.get(f"/v1/threads/t1?{query}"), 400)


def test_bad_fork_and_context_parameters_are_400(small: TestClient) -> None:
    problem(small.post("/v1/threads/t1/fork", json={"at_seq": "3"}), 400)
    problem(small.post("/v1/threads/t1/fork", json={"at_seq": 1, "id": "bad id"}), 400)
    problem(small.get("/v1/threads/t1/context"), 400)
    problem(small.get("/v1/threads?updated_after=yesterday"), 400)


def test_a_listing_cursor_is_not_a_turn_cursor(small: TestClient) -> None:
    for i in range(12):
        assert small.post("/v1/threads", json={"id": f"x{i}"}).status_code == 201
    listing = small.get("/v1/threads?limit=2").json()
    assert len(listing["threads"]) == 2 and listing["next"], listing
    problem(small.get(f"/v1/threads/t1?cursor={listing['next']}"), 400)


def test_a_bad_idempotency_key_is_refused(small: TestClient) -> None:
    r = small.post(
        "/v1/threads/t1/turns", json={"turns": [user("x")]}, headers={"Idempotency-Key": "k" * 300}
    )
    problem(r, 400)
    assert_untouched(small)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "n1", "metadata": {"x": NaN}}',
        b'{"id": "n1", "metadata": {"x": {"y": [Infinity]}}}',
        b'{"id": "n1", "metadata": {"x": -1e999}}',
        b'{"id": "n1", "turns": [{"role": "user", "content": "x", "metadata": {"v": -Infinity}}]}',
    ],
)
def test_nan_and_infinity_are_refused_at_create(small: TestClient, raw: bytes) -> None:
    r = small.post("/v1/threads", content=raw, headers={"content-type": "application/json"})
    body = problem(r, 400)
    assert "metadata" in body["field"] and "finite" in body["detail"]
    assert small.get("/v1/threads/n1").json()["reason"] == "never_stored"
    assert small.get("/v1/threads").status_code == 200


@pytest.mark.parametrize("number", [b"Infinity", b"NaN", b"1e999", b"-1e999"])
def test_nan_and_infinity_in_a_turn_are_refused(small: TestClient, number: bytes) -> None:
    raw = b'{"turns": [{"role": "user", "content": "x", "metadata": {"v": ' + number + b"}}]}"
    r = small.post(
        "/v1/threads/t1/turns", content=raw, headers={"content-type": "application/json"}
    )
    assert problem(r, 400)["field"] == "turns[0].metadata"
    assert_untouched(small)
    assert small.post("/v1/threads/t1/fork", json={"at_seq": 1}).status_code == 201


def test_an_unexpected_failure_does_not_claim_nothing_was_stored(
    small: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the write (here: rendering the answer) must not deny the write."""

    def unrenderable(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("cannot render")

    monkeypatch.setattr("threadkeeper.api.threads.wire_response", unrenderable)
    r = local_client(small.app, raise_server_exceptions=False).post(
        "/v1/threads", json={"id": "n2"}
    )
    assert r.status_code == 500
    assert "nothing was acknowledged" not in r.text and "may have been stored" in r.text


@pytest.mark.parametrize("bad_id", ["x\n", "a" * 128 + "\n"])
def test_an_id_with_a_trailing_newline_is_refused(small: TestClient, bad_id: str) -> None:
    assert "A-Z, a-z, 0-9" in problem(small.post("/v1/threads", json={"id": bad_id}), 400)["detail"]
    problem(small.post("/v1/threads/t1/fork", json={"at_seq": 1, "id": bad_id}), 400)
    problem(small.get("/v1/threads/x%0A"), 400)
    problem(small.post("/v1/threads/t1%0A/turns", json={"turns": [user("y")]}), 400)
    assert_untouched(small)
    assert small.get("/v1/threads").json()["threads"][0]["id"] == "t1"


DEEP = b'{"metadata": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
BODY_ROUTES = [
    ("POST", "/v1/threads"),
    ("POST", "/v1/threads/t1/turns"),
    ("PATCH", "/v1/threads/t1"),
    ("PATCH", "/v1/threads/t1/turns/1"),
    ("POST", "/v1/threads/t1/fork"),
]


@pytest.fixture
def roomy(make_client: Callable[..., TestClient]) -> TestClient:
    """Room for a 20 KB body: thread t1 with one turn, under the default limits."""
    client = make_client()
    assert client.post("/v1/threads", json={"id": "t1", "turns": [user("kept")]}).is_success
    return client


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_nested_5000_deep_is_400_naming_the_depth_limit(
    roomy: TestClient, method: str, path: str
) -> None:
    r = roomy.request(method, path, content=DEEP, headers={"content-type": "application/json"})
    body = problem(r, 400)
    assert body["setting"] == "THREADKEEPER_MAX_JSON_DEPTH" and body["limit"] == 64
    assert "nests deeper than 64 levels" in body["detail"]
    assert_untouched(roomy)


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/conversations/t1/items"])
def test_a_deep_conversations_body_is_openais_400(roomy: TestClient, path: str) -> None:
    small = roomy
    nested = b"[" * 5000 + b"]" * 5000
    deep = b'{"items": [{"role": "user", "content": "x", "extra": ' + nested + b"}]}"
    r = small.post(path, content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "THREADKEEPER_MAX_JSON_DEPTH" in error["message"]
    assert_untouched(small)


def test_the_depth_limit_is_a_setting(make_client: Callable[..., TestClient]) -> None:
    client = make_client(limits=Limits(max_json_depth=4))
    at_limit = {"id": "d", "metadata": {"a": {"b": {"c": 1}}}}  # body, metadata, a, b: 4
    assert client.post("/v1/threads", json=at_limit).status_code == 201
    over = {"id": "e", "metadata": {"a": {"b": {"c": [1]}}}}
    assert problem(client.post("/v1/threads", json=over), 400)["limit"] == 4


@pytest.mark.parametrize(
    ("raw", "deepest"),
    [
        (b"[]", 1),
        (b'{"a": [{"b": "]]]]}}}}"}, "[[[["]}', 3),  # brackets inside strings do not count
        (b'["\\\\", "\\"[[[[[", [[]]]', 3),  # nor after escaped quotes and backslashes
        (b"[[[[" + b"]" * 4, 4),
        (b"[1, [2, [3]], {}, [[[4]]]]", 4),
    ],
)
def test_nesting_is_measured_on_the_bytes(raw: bytes, deepest: int) -> None:
    assert not nesting_over(raw, deepest)
    assert nesting_over(raw, deepest - 1) or deepest == 1
