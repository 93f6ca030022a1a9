"""Every Client method against a live daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from client_live import LiveServer, Serve

from threadkeeper.client import Client, ThreadNotFound
from threadkeeper.settings import Limits

HI = {"role": "user", "content": "hi"}


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 else "assistant", "content": f"t{i}"} for i in range(1, n + 1)]


def test_the_round_trip_of_the_issue(live: LiveServer) -> None:
    with Client(live.url, token=None) as tk:
        t = tk.create(id="chat-42", tool="chat", turns=[HI])
        assert (t.id, t.tool, t.turn_count, t.version) == ("chat-42", "chat", 1, 1)
        assert isinstance(t.created_at, datetime) and t.created_at.tzinfo is not None
        r = tk.append("chat-42", [{"role": "assistant", "content": "hello"}])
        assert (r.seqs, r.version, r.replayed) == ([2], 2, False)
        turns = list(tk.turns("chat-42"))
        assert [(x.seq, x.role, x.content) for x in turns] == [
            (1, "user", "hi"), (2, "assistant", "hello"),
        ]  # fmt: skip
        assert all(isinstance(x.created_at, datetime) for x in turns)
        got = tk.get("chat-42")
        assert (got.turn_count, got.version, got.state, got.missing_turns) == (2, 2, "hot", None)
        assert [th.id for th in tk.threads(tool="chat")] == ["chat-42"]
        fork = tk.fork("chat-42", at_seq=1)
        assert (fork.parent_id, fork.fork_seq, fork.turn_count) == ("chat-42", 1, 1)
        ctx = tk.context("chat-42", max_tokens=8000)
        assert [x.content for x in ctx.turns] == ["hi", "hello"] and ctx.omitted == 0
        tk.delete("chat-42")
        with pytest.raises(ThreadNotFound) as gone:
            tk.get("chat-42")
        assert gone.value.reason == "deleted" and gone.value.thread_id == "chat-42"
        assert gone.value.deleted_at is not None
        assert abs(gone.value.deleted_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_turns_follow_cursors_in_both_orders(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="long", turns=_turns(7))
        asc = [x.seq for x in tk.turns("long", page_size=2)]
        desc = [x.seq for x in tk.turns("long", order="desc", page_size=3)]
        assert asc == [1, 2, 3, 4, 5, 6, 7]
        assert desc == [7, 6, 5, 4, 3, 2, 1]
        assert [x.seq for x in tk.turns("long", after=2, before=6, page_size=2)] == [3, 4, 5]
        page = tk.page("long", order="desc", limit=2)
        assert [x.seq for x in page.turns] == [7, 6] and page.next is not None


def test_threads_lists_every_page_newest_first(live: LiveServer) -> None:
    with Client(live.url) as tk:
        for name in ("a", "b", "c"):
            tk.create(id=name, tool="chat", turns=[HI])
        tk.create(id="other", tool="review", turns=[HI])
        assert [t.id for t in tk.threads(tool="chat", page_size=1)] == ["c", "b", "a"]
        assert len(list(tk.threads(page_size=2))) == 4
        later = datetime.now(UTC) + timedelta(hours=1)
        assert list(tk.threads(updated_after=later)) == []
        assert len(list(tk.threads(updated_before=later))) == 4
        assert [t.id for t in tk.threads(prefix="oth")] == ["other"]


def test_threads_by_owner_and_metadata(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="a", user_id="alice", metadata={"project": "apollo", "n": 1})
        tk.create(id="b", user_id="bob", metadata={"project": "apollo", "n": 2})
        tk.create(id="c", user_id="alice", metadata={"project": "gemini", "n": 1})
        assert tk.get("a").user_id == "alice"
        assert [t.id for t in tk.threads(user_id="alice")] == ["c", "a"]
        assert [t.id for t in tk.threads(metadata={"project": "apollo"})] == ["b", "a"]
        assert [t.id for t in tk.threads(user_id="alice", metadata={"n": 1})] == ["c", "a"]
        assert [t.id for t in tk.threads(metadata={"project": "apollo", "n": 2})] == ["b"]


def test_fork_with_a_chosen_id_and_context_budget(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="p", turns=_turns(4))
        fork = tk.fork("p", at_seq=2, id="p-fork")
        assert fork.id == "p-fork" and [x.seq for x in tk.turns("p-fork")] == [1, 2]
        ctx = tk.context("p", max_tokens=1)  # each "tN" costs 1 token
        assert [x.content for x in ctx.turns] == ["t4"] and (ctx.tokens, ctx.omitted) == (1, 3)


def test_archive_rehydrate_and_health(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="cold", turns=_turns(3))
        queued = tk.archive("cold")
        assert queued.status in ("queued", "already_queued") and queued.job_id
        done = tk.archive("cold", wait=True)
        assert done.status == "archived" and done.thread is not None
        assert done.thread.archived_version == done.thread.version
        back = tk.rehydrate("cold")
        assert back.thread.id == "cold" and back.missing_turns is None
        assert [x.content for x in tk.turns("cold")] == ["t1", "t2", "t3"]
        report = tk.health()
        assert report["status"] in ("ok", "degraded", "failing") and "durability" in report


def test_defaults_come_from_the_environment(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADKEEPER_URL", live.url)
    with Client() as tk:
        assert tk.url == live.url
        tk.create(id="env", turns=[HI])
        assert tk.get("env").turn_count == 1


def test_threads_follows_a_bounded_search_to_the_end(serve: Serve) -> None:
    live = serve(limits=Limits(max_list_scan=1))  # a filtered page may come back short
    with Client(live.url) as tk:
        tk.create(id="wanted", tool="review", turns=[HI])
        for i in range(6):
            tk.create(id=f"noise-{i}", tool="chat", turns=[HI])
        assert [t.id for t in tk.threads(prefix="want", page_size=1)] == ["wanted"]
        assert [t.id for t in tk.threads(tool="review", page_size=1)] == ["wanted"]
