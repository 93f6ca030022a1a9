"""`threadkeeper ls` and `threadkeeper show`."""

from __future__ import annotations

import json

import pytest
from cli_support import Harness

from threadkeeper import keys


def test_ls_lists_a_tenants_threads_newest_first(tk: Harness) -> None:
    for thread_id in ("first", "second", "third"):
        tk.seed("default", thread_id, turns=2, title=f"about {thread_id}")
    tk.seed("acme", "elsewhere")

    rows = json.loads(tk("ls", "--json").stdout)["threads"]
    assert [r["id"] for r in rows] == ["third", "second", "first"]
    assert all(r["tenant"] == "default" and r["turn_count"] == 2 for r in rows)
    with tk.api() as client:  # the same threads the API lists, in the same order
        assert [t["id"] for t in client.get("/v1/threads").json()["threads"]] == [
            r["id"] for r in rows
        ]
    acme = json.loads(tk("ls", "--tenant", "acme", "--json").stdout)["threads"]
    assert [t["id"] for t in acme] == ["elsewhere"]

    table = tk("ls")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "UPDATED", "TURNS", "VER", "STATE", "TITLE"]
    assert lines[1].split()[0] == "third" and lines[1].endswith("about third")
    assert "3 thread(s) of tenant default" in table.stderr


def test_ls_filters_by_user_and_metadata(tk: Harness) -> None:
    tk.seed("default", "a", user_id="alice", metadata={"project": "apollo"})
    tk.seed("default", "b", user_id="bob", metadata={"project": "apollo"})
    tk.seed("default", "c", user_id="alice", metadata={"project": "gemini"})

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in json.loads(tk("ls", "--json", *args).stdout)["threads"]]

    assert ids("--user", "alice") == ["c", "a"]
    assert ids("--metadata", "project=apollo") == ["b", "a"]
    assert ids("--user", "alice", "--metadata", "project=apollo") == ["a"]
    assert "KEY=VALUE" in tk("ls", "--metadata", "project", code=2).stderr


def test_ls_shows_archived_threads_as_archived(tk: Harness) -> None:
    tk.seed("default", "cold")
    tk("archive", "cold", "--wait")
    with tk.redis() as client:
        client.delete(keys.thread_keys("default", "cold").turns)
    (row,) = json.loads(tk("ls", "--json").stdout)["threads"]
    assert row["state"] == "archived"


def test_show_json_matches_the_api(tk: Harness) -> None:
    tk.seed("default", "talk", turns=5, title="A talk", metadata={"x": 1})
    body = json.loads(tk("show", "talk", "--json").stdout)
    with tk.api() as client:
        api = client.get("/v1/threads/talk", params={"limit": 1000}).json()
    assert body["thread"] == api["thread"]
    assert body["turns"] == api["turns"]
    assert [t["seq"] for t in body["turns"]] == [1, 2, 3, 4, 5]


def test_show_pages_through_every_turn(tk: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tk.seed("default", "long", turns=7)
    monkeypatch.setenv("THREADKEEPER_MAX_PAGE", "2")
    body = json.loads(tk("show", "long", "--json").stdout)
    assert [t["seq"] for t in body["turns"]] == list(range(1, 8))


def test_show_prints_a_readable_thread(tk: Harness) -> None:
    tk.seed("acme", "talk", turns=2, title="A talk")
    out = tk("show", "acme:talk").stdout
    assert out.startswith("thread   acme:talk  (hot)\ntitle    A talk\n")
    assert "#1 user at " in out and "#2 assistant (m-1) at " in out
    assert "talk turn 1: héllo ✓" in out


def test_show_of_a_deleted_thread_says_when(tk: Harness) -> None:
    tk.seed("default", "gone")
    tk.call(lambda rt: rt.service.delete("default", "gone"))
    result = tk("show", "gone", code=3)
    assert "thread 'gone' was deleted by request at" in result.stderr


def test_show_of_an_unknown_thread(tk: Harness) -> None:
    result = tk("show", "never", code=3)
    assert "no thread 'never' is stored here" in result.stderr
