"""The /v1/threads contract of API.md, over the real app and a real Redis."""

from __future__ import annotations

from typing import Any

import redis
from starlette.testclient import TestClient

from threadkeeper import keys


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def create(client: TestClient, thread_id: str = "t1", n: int = 0, **extra: Any) -> Any:
    body = {"id": thread_id, "turns": [user(f"m{i}") for i in range(1, n + 1)], **extra}
    r = client.post("/v1/threads", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_returns_the_thread_with_its_turns(client: TestClient) -> None:
    body = create(client, n=2, title="Plan", tool="chat", metadata={"k": "v"})
    thread = body["thread"]
    assert (thread["id"], thread["title"], thread["tool"], thread["metadata"]) == (
        "t1", "Plan", "chat", {"k": "v"},
    )  # fmt: skip
    assert thread["turn_count"] == 2 and thread["state"] == "hot"
    assert thread["created_at"].endswith("Z")
    assert [t["seq"] for t in body["turns"]] == [1, 2]
    assert body["turns"][0]["role"] == "user" and body["turns"][0]["files"] == []


def test_create_without_an_id_picks_one(client: TestClient) -> None:
    r = client.post("/v1/threads", json={"turns": [user("hi")]})
    assert r.status_code == 201
    new_id = r.json()["thread"]["id"]
    assert client.get(f"/v1/threads/{new_id}").status_code == 200
    assert r.headers["location"] == f"/v1/threads/{new_id}"


def test_create_an_existing_id_is_409(client: TestClient) -> None:
    create(client)
    r = client.post("/v1/threads", json={"id": "t1"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "already exists" in r.json()["detail"]


def test_create_retried_with_its_idempotency_key_is_replayed(client: TestClient) -> None:
    body = {"id": "t1", "turns": [user("hi")]}
    first = client.post("/v1/threads", json=body, headers={"Idempotency-Key": "c1"})
    again = client.post("/v1/threads", json=body, headers={"Idempotency-Key": "c1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["thread"]["turn_count"] == 1


def test_append_with_the_same_key_twice_stores_one_turn(client: TestClient) -> None:
    create(client, n=1)
    body = {"turns": [{"role": "assistant", "content": "yo", "model": "m-1"}]}
    first = client.post("/v1/threads/t1/turns", json=body, headers={"Idempotency-Key": "a"})
    again = client.post("/v1/threads/t1/turns", json=body, headers={"Idempotency-Key": "a"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json() == {"seqs": [2], "version": 2}
    assert again.headers["idempotent-replayed"] == "true"
    turns = client.get("/v1/threads/t1").json()["turns"]
    assert [t["content"] for t in turns] == ["m1", "yo"] and turns[1]["model"] == "m-1"


def test_reusing_a_key_for_a_different_request_is_422(client: TestClient) -> None:
    create(client)
    client.post(
        "/v1/threads/t1/turns", json={"turns": [user("a")]}, headers={"Idempotency-Key": "k"}
    )
    r = client.post(
        "/v1/threads/t1/turns", json={"turns": [user("b")]}, headers={"Idempotency-Key": "k"}
    )
    assert r.status_code == 422 and "different request" in r.json()["detail"]
    assert client.get("/v1/threads/t1").json()["thread"]["turn_count"] == 1


def test_a_retry_after_archive_and_rehydrate_is_answered_as_the_first_time(
    client: TestClient, redis_url: str
) -> None:
    create(client, n=1)
    body = {"turns": [user("kept")]}
    first = client.post("/v1/threads/t1/turns", json=body, headers={"Idempotency-Key": "r"})
    assert client.post("/v1/threads/t1/archive?wait=true").json()["status"] == "archived"
    k = keys.thread_keys("default", "t1")
    with redis.Redis.from_url(redis_url) as r:  # the hot TTL lapsed: only the archive holds them
        assert r.exists(k.idempotency)
        r.delete(k.turns, k.idempotency)

    again = client.post("/v1/threads/t1/turns", json=body, headers={"Idempotency-Key": "r"})

    assert again.status_code == 200 and again.json() == first.json() == {"seqs": [2], "version": 2}
    assert again.headers["idempotent-replayed"] == "true"
    other = {"turns": [user("other")]}
    reused = client.post("/v1/threads/t1/turns", json=other, headers={"Idempotency-Key": "r"})
    assert reused.status_code == 422
    assert client.get("/v1/threads/t1").json()["thread"]["turn_count"] == 2


def test_expected_version_mismatch_is_409_with_the_current_version(client: TestClient) -> None:
    create(client, n=1)
    r = client.post("/v1/threads/t1/turns", json={"turns": [user("x")], "expected_version": 5})
    assert r.status_code == 409 and r.json()["current_version"] == 1
    ok = client.post("/v1/threads/t1/turns", json={"turns": [user("x")], "expected_version": 1})
    assert ok.status_code == 201 and ok.json()["version"] == 2


def test_read_pages_both_ways_with_opaque_cursors(client: TestClient) -> None:
    create(client, n=7)

    def walk(order: str) -> list[int]:
        seqs: list[int] = []
        url = f"/v1/threads/t1?limit=3&order={order}"
        while url:
            body = client.get(url).json()
            seqs += [t["seq"] for t in body["turns"]]
            url = f"/v1/threads/t1?limit=3&cursor={body['next']}" if body["next"] else ""
        return seqs

    assert walk("asc") == [1, 2, 3, 4, 5, 6, 7]
    assert walk("desc") == [7, 6, 5, 4, 3, 2, 1]
    window = client.get("/v1/threads/t1?after=2&before=5").json()
    assert [t["seq"] for t in window["turns"]] == [3, 4]


def test_list_is_newest_first_and_paged(client: TestClient) -> None:
    for i in range(3):
        create(client, f"t{i}", tool="chat" if i != 1 else "agent")
    client.post("/v1/threads/t0/turns", json={"turns": [user("bump")]})
    page = client.get("/v1/threads?limit=2").json()
    assert [t["id"] for t in page["threads"]] == ["t0", "t2"] and page["next"]
    rest = client.get(f"/v1/threads?limit=2&cursor={page['next']}").json()
    assert [t["id"] for t in rest["threads"]] == ["t1"] and rest["next"] is None
    agents = client.get("/v1/threads?tool=agent").json()
    assert [t["id"] for t in agents["threads"]] == ["t1"]


def test_fork_copies_turns_up_to_the_seq(client: TestClient) -> None:
    create(client, n=5, title="Original")
    r = client.post("/v1/threads/t1/fork", json={"at_seq": 3, "id": "f1"})
    assert r.status_code == 201, r.text
    fork = r.json()
    assert fork["thread"]["parent_id"] == "t1" and fork["thread"]["fork_seq"] == 3
    assert [t["content"] for t in fork["turns"]] == ["m1", "m2", "m3"]
    assert fork["thread"]["title"] == "Original"
    client.post("/v1/threads/f1/turns", json={"turns": [user("branch")]})
    assert client.get("/v1/threads/t1").json()["thread"]["turn_count"] == 5
    past = client.post("/v1/threads/t1/fork", json={"at_seq": 9})
    assert past.status_code == 400 and "past the thread's last turn" in past.json()["detail"]


def test_delete_then_read_says_deleted_and_when(client: TestClient) -> None:
    create(client, n=2)
    assert client.delete("/v1/threads/t1").status_code == 204
    r = client.get("/v1/threads/t1")
    assert r.status_code == 404
    problem = r.json()
    assert problem["reason"] == "deleted" and problem["deleted_at"].endswith("Z")
    assert "deleted by request" in problem["detail"]
    assert client.delete("/v1/threads/t1").json()["reason"] == "deleted"
    assert client.post("/v1/threads/t1/turns", json={"turns": [user("x")]}).status_code == 404


def test_unknown_thread_is_never_stored(client: TestClient) -> None:
    r = client.get("/v1/threads/nobody")
    assert r.status_code == 404 and r.json()["reason"] == "never_stored"
    assert r.json()["thread_id"] == "nobody"


def test_context_keeps_the_newest_turns_that_fit(client: TestClient) -> None:
    create(client)
    turns = [{"role": "user", "content": f"c{i}", "tokens": 10} for i in range(1, 6)]
    client.post("/v1/threads/t1/turns", json={"turns": turns})
    body = client.get("/v1/threads/t1/context?max_tokens=35").json()
    assert [t["content"] for t in body["turns"]] == ["c3", "c4", "c5"]
    assert (body["tokens"], body["omitted"]) == (30, 2)


def test_openapi_document_lists_the_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/v1/threads", "/v1/threads/{thread_id}", "/v1/threads/{thread_id}/turns"} <= set(
        doc["paths"]
    )


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_keyed_create_without_an_id_is_one_thread_however_often_retried(
    client: TestClient,
) -> None:
    body = {"turns": [user("hi")]}
    first = client.post("/v1/threads", json=body, headers={"Idempotency-Key": "new-1"})
    again = client.post("/v1/threads", json=body, headers={"Idempotency-Key": "new-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    thread_id = first.json()["thread"]["id"]
    assert again.json()["thread"]["id"] == thread_id and again.json()["thread"]["turn_count"] == 1
    assert [t["id"] for t in client.get("/v1/threads").json()["threads"]] == [thread_id]
    other = client.post("/v1/threads", json=body, headers={"Idempotency-Key": "new-2"})
    assert other.status_code == 201 and other.json()["thread"]["id"] != thread_id
    reused = client.post("/v1/threads", json={"turns": []}, headers={"Idempotency-Key": "new-1"})
    assert reused.status_code == 422


def test_an_append_to_an_unknown_id_leaves_no_dirty_entry(client: TestClient) -> None:
    r = client.post("/v1/threads/typo/turns", json={"turns": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    assert client.portal is not None
    assert client.portal.call(store.indexes.dirty_count) == 0
    assert client.post("/v1/threads", json={"id": "real"}).status_code == 201
    assert client.portal.call(store.indexes.dirty_count) == 1
