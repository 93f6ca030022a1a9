"""PATCH a thread, PATCH and DELETE one turn: idempotent, and every read agrees."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient


def make(client: TestClient, n: int, thread_id: str = "t1") -> None:
    turns = [{"role": "user", "content": f"m{i}", "tokens": 1} for i in range(1, n + 1)]
    assert client.post("/v1/threads", json={"id": thread_id, "turns": turns}).status_code == 201


def seqs(body: Any) -> list[int]:
    return [t["seq"] for t in body["turns"]]


def test_a_deleted_turn_is_gone_from_every_read(client: TestClient) -> None:
    make(client, 5)
    first = client.delete("/v1/threads/t1/turns/3")
    assert first.status_code == 200 and first.json()["changed"] is True
    again = client.delete("/v1/threads/t1/turns/3")
    assert again.json() == {**first.json(), "changed": False}
    assert seqs(client.get("/v1/threads/t1").json()) == [1, 2, 4, 5]
    assert seqs(client.get("/v1/threads/t1?order=desc").json()) == [5, 4, 2, 1]
    page = client.get("/v1/threads/t1?limit=2").json()
    rest = client.get(f"/v1/threads/t1?limit=2&cursor={page['next']}").json()
    assert seqs(page) + seqs(rest) == [1, 2, 4]
    assert seqs(client.get("/v1/threads/t1/context?max_tokens=100").json()) == [1, 2, 4, 5]
    fork = client.post("/v1/threads/t1/fork", json={"at_seq": 4, "id": "f"}).json()
    assert seqs(fork) == [1, 2, 4]
    more = {"turns": [{"role": "user", "content": "m6"}]}
    appended = client.post("/v1/threads/t1/turns", json=more)
    assert appended.json()["seqs"] == [6]
    assert client.get("/v1/threads/t1").json()["thread"]["version"] == 3
    assert client.delete("/v1/threads/t1/turns/9").status_code == 404
    assert client.patch("/v1/threads/t1/turns/3", json={"content": "x"}).status_code == 404


def test_an_edited_turn_keeps_its_seq_and_says_when(client: TestClient) -> None:
    make(client, 3)
    edit = client.patch("/v1/threads/t1/turns/2", json={"content": "new", "metadata": {"k": 1}})
    assert edit.status_code == 200, edit.text
    body = edit.json()
    assert body["changed"] is True and body["turn"]["seq"] == 2 and body["turn"]["edited_at"]
    again = client.patch("/v1/threads/t1/turns/2", json={"content": "new", "metadata": {"k": 1}})
    assert again.json()["changed"] is False and again.json()["version"] == body["version"]
    raw = client.get("/v1/threads/t1").content
    assert raw.count(b'"tool_name"') == 3 and raw.count(b'"edited_at"') == 1  # each key once
    turns = client.get("/v1/threads/t1").json()["turns"]
    assert [(t["seq"], t["content"]) for t in turns] == [(1, "m1"), (2, "new"), (3, "m3")]
    assert turns[1]["metadata"] == {"k": 1} and turns[1]["created_at"] == turns[0]["created_at"]
    stale = client.patch("/v1/threads/t1/turns/1", json={"content": "z", "expected_version": 1})
    assert stale.status_code == 409 and stale.json()["current_version"] == body["version"]


def test_patch_thread_title_and_metadata(client: TestClient) -> None:
    make(client, 1)
    r = client.patch("/v1/threads/t1", json={"title": "Plan", "metadata": {"k": "v"}})
    assert r.status_code == 200, r.text
    thread = r.json()["thread"]
    assert (thread["title"], thread["metadata"], thread["version"]) == ("Plan", {"k": "v"}, 2)
    same = client.patch("/v1/threads/t1", json={"title": "Plan"}).json()["thread"]
    assert same["version"] == 2
    stale = client.patch("/v1/threads/t1", json={"title": "x", "expected_version": 1})
    assert stale.status_code == 409
    assert client.patch("/v1/threads/t1", json={"nope": 1}).status_code == 400
    assert client.patch("/v1/threads/missing", json={"title": "x"}).status_code == 404


def test_edits_beside_concurrent_appends_lose_nothing(client: TestClient) -> None:
    make(client, 20)

    def append(i: int) -> int:
        turn = {"turns": [{"role": "user", "content": f"a{i}"}]}
        r = client.post("/v1/threads/t1/turns", json=turn, headers={"Idempotency-Key": f"k{i}"})
        assert r.status_code == 201, r.text
        return int(r.json()["seqs"][0])

    def delete(seq: int) -> int:
        r = client.delete(f"/v1/threads/t1/turns/{seq}")
        assert r.status_code == 200, r.text
        return seq

    with ThreadPoolExecutor(6) as pool:  # interleaved: each delete beside appends
        appends = [pool.submit(append, i) for i in range(20)]
        deletes = [pool.submit(delete, seq) for seq in range(1, 21, 2)]
        appended = [f.result() for f in appends]
        deleted = [f.result() for f in deletes]
    body = client.get("/v1/threads/t1?limit=100").json()
    assert sorted(appended) == list(range(21, 41))
    assert seqs(body) == [s for s in range(1, 41) if s not in deleted]
    assert {t["content"] for t in body["turns"]} >= {f"a{i}" for i in range(20)}


NOT_ASCII_DIGITS = ["%C2%B2", "%D9%A1", "%EF%BC%91", "1" * 5000, "+1", "%201", "1_0", "0"]


def test_a_turn_seq_in_anything_but_ascii_digits_is_400_and_changes_nothing(
    client: TestClient,
) -> None:
    """`²`, `١` (Arabic-Indic one), `１` (fullwidth), 5,000 digits: int() reads some, not all."""
    make(client, 2)
    for seq in NOT_ASCII_DIGITS:
        for method, body in (("PATCH", {"content": "changed"}), ("DELETE", None)):
            r = client.request(method, f"/v1/threads/t1/turns/{seq}", json=body)
            assert r.status_code == 400, (method, seq, r.text)
            assert "digits 0-9" in r.json()["detail"]
    assert seqs(client.get("/v1/threads/t1").json()) == [1, 2]
    assert client.get("/v1/threads/t1").json()["thread"]["version"] == 1


def test_query_seqs_and_counts_are_ascii_digits_too(client: TestClient) -> None:
    make(client, 3)
    for query in ("after=%D9%A1", "before=%C2%B2", "limit=%EF%BC%92", "after=" + "9" * 5000):
        r = client.get(f"/v1/threads/t1?{query}")
        assert r.status_code == 400, (query, r.text)
    r = client.request("DELETE", "/v1/threads/t1/turns/1?expected_version=%D9%A1")
    assert r.status_code == 400
    assert seqs(client.get("/v1/threads/t1").json()) == [1, 2, 3]
