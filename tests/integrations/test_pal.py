"""PAL's own published conversation memory (create_thread, add_turn, get_thread,
get_thread_chain, build_conversation_history) through PalStorage, against `threadkeeper up`."""

from __future__ import annotations

import json
import threading

import redis
from pal_support import StartPal

from daemon_support import Daemon
from threadkeeper import keys
from threadkeeper.client import Client

REQUEST = {"prompt": "review this", "files": ["/src/a.py"], "model": "dropped-by-pal"}


def _turns(blob: str) -> list[tuple[str, str]]:
    return [(t["role"], t["content"]) for t in json.loads(blob)["turns"]]


def test_get_returns_exactly_what_pal_wrote(daemon: Daemon, start_pal: StartPal) -> None:
    pal = start_pal(daemon.base)
    assert pal.call("backend_is_ours") is True
    tid = pal.call("create_thread", tool_name="codereview", initial_request=REQUEST)
    assert pal.call("add_turn", thread_id=tid, role="user", content="Is a.py safe? ünïcode ✓")
    assert pal.call("add_turn", thread_id=tid, role="assistant", content="Mostly.",
                    files=["/src/a.py"], images=None, tool_name="codereview",
                    model_provider="google", model_name="gemini-2.5-pro",
                    model_metadata={"usage": {"input_tokens": 12, "output_tokens": 3}})  # fmt: skip
    stored, written = pal.call("stored_and_written", thread_id=tid)
    assert stored == written  # byte for byte
    assert pal.call("get_thread", thread_id=tid) == written
    with Client(daemon.base) as tk:  # and threadkeeper's own readers see a real thread
        thread = tk.get(tid)
        assert thread.tool == "codereview" and thread.metadata["pal"]["context_turns"] == 1
        turns = list(tk.turns(tid))
    assert [(t.role, t.content) for t in turns[1:]] == [
        ("user", "Is a.py safe? ünïcode ✓"), ("assistant", "Mostly."),
    ]  # fmt: skip
    assert (turns[2].model, turns[2].files, turns[2].tool_name) == (
        "gemini-2.5-pro", ["/src/a.py"], "codereview",
    )  # fmt: skip


def test_an_unknown_thread_is_none_and_an_outage_is_a_storage_error(
    daemon: Daemon, start_pal: StartPal
) -> None:
    pal = start_pal(daemon.base)
    assert pal.call("get_thread", thread_id="7c9e6679-7425-40de-944b-e07fc1f90ae7") is None
    tid = pal.call("create_thread", tool_name="chat", initial_request={"prompt": "hi"})
    assert daemon.interrupt() == 0
    failed = pal.answer("add_turn", thread_id=tid, role="user", content="anyone?")
    assert failed["error"] == "ConversationMemoryStorageError"  # not "thread expired"


def test_threads_survive_a_daemon_restart_and_a_pal_restart(
    daemon: Daemon, start_pal: StartPal
) -> None:
    pal = start_pal(daemon.base)
    tid = pal.call("create_thread", tool_name="chat", initial_request={"prompt": "hi"})
    assert pal.call("add_turn", thread_id=tid, role="user", content="before")
    assert daemon.interrupt() == 0
    daemon.start()  # same home, same port: PAL keeps running meanwhile
    assert pal.call("add_turn", thread_id=tid, role="assistant", content="after")
    stored, written = pal.call("stored_and_written", thread_id=tid)
    assert stored == written and _turns(stored) == [("user", "before"), ("assistant", "after")]
    pal.close()
    again = start_pal(daemon.base)  # a new PAL process: its in-memory store would be empty
    assert again.call("get_thread", thread_id=tid) == written


def test_chains_and_history_span_parent_threads(daemon: Daemon, start_pal: StartPal) -> None:
    pal = start_pal(daemon.base)
    parent = pal.call("create_thread", tool_name="analyze", initial_request={"prompt": "p"})
    assert pal.call("add_turn", thread_id=parent, role="user", content="parent question")
    assert pal.call("add_turn", thread_id=parent, role="assistant", content="parent answer")
    child = pal.call("create_thread", tool_name="chat", initial_request={"prompt": "c"},
                     parent_thread_id=parent)  # fmt: skip
    assert pal.call("add_turn", thread_id=child, role="user", content="child question")
    assert pal.call("get_thread_chain", thread_id=child) == [parent, child]
    text, tokens = pal.call("history", thread_id=child)
    assert "=== CONVERSATION HISTORY (CONTINUATION) ===" in text and tokens > 0
    positions = [text.index(s) for s in ("parent question", "parent answer", "child question")]
    assert positions == sorted(positions)


def test_an_initial_context_past_the_metadata_limit(daemon: Daemon, start_pal: StartPal) -> None:
    pal = start_pal(daemon.base)
    huge = {"prompt": "ß" * 150_000, "nested": {"k": list(range(2000))}, "flag": True}
    tid = pal.call("create_thread", tool_name="chat", initial_request=huge)
    assert pal.call("add_turn", thread_id=tid, role="user", content="go")
    stored, written = pal.call("stored_and_written", thread_id=tid)
    assert stored == written and json.loads(stored)["initial_context"] == huge
    with Client(daemon.base) as tk:
        assert tk.get(tid).metadata["pal"]["context_turns"] == 3  # 150k+ characters, 3 turns


def test_two_pal_processes_on_one_thread_lose_nothing(daemon: Daemon, start_pal: StartPal) -> None:
    first, second = start_pal(daemon.base), start_pal(daemon.base)
    tid = first.call("create_thread", tool_name="chat", initial_request={"prompt": "race"})
    results: dict[str, list[bool]] = {}

    def write(pal_name: str) -> None:
        pal = first if pal_name == "a" else second
        results[pal_name] = pal.call("add_turns", thread_id=tid, tag=pal_name, n=15)

    writers = [threading.Thread(target=write, args=(name,)) for name in "ab"]
    for w in writers:
        w.start()
    for w in writers:
        w.join(300)
    assert results == {"a": [True] * 15, "b": [True] * 15}
    contents = [c for _, c in _turns(first.call("get_thread", thread_id=tid))]
    assert sorted(contents) == sorted(f"{w}-{i}" for w in "ab" for i in range(15))
    for w in "ab":  # each writer's turns in its own order
        assert [c for c in contents if c.startswith(w)] == [f"{w}-{i}" for i in range(15)]
    assert second.call("get_thread", thread_id=tid) == first.call("get_thread", thread_id=tid)


def test_python_dash_m_starts_pal_with_our_storage(daemon: Daemon, start_pal: StartPal) -> None:
    """The README's start command: PAL's own MCP server answers over stdio."""
    pal = start_pal(daemon.base, ["-m", "threadkeeper.integrations.pal"])
    hello = pal.rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                      "clientInfo": {"name": "test", "version": "0"}})  # fmt: skip
    assert "serverInfo" in hello["result"]
    pal.notify("notifications/initialized")
    tools = [t["name"] for t in pal.rpc(2, "tools/list", {})["result"]["tools"]]
    assert "chat" in tools


def test_a_thread_gone_cold_reads_back_and_takes_turns(daemon: Daemon, start_pal: StartPal) -> None:
    pal = start_pal(daemon.base)
    tid = pal.call("create_thread", tool_name="chat", initial_request={"prompt": "cold"})
    assert pal.call("add_turn", thread_id=tid, role="user", content="first")
    written = pal.call("stored_and_written", thread_id=tid)[1]
    with Client(daemon.base) as tk:
        assert tk.archive(tid, wait=True).status == "archived"
    # What the hot TTL does to an archived thread: its turns leave Redis.
    redis.Redis.from_url(daemon.redis_url()).delete(keys.thread_keys("default", tid).turns)
    assert pal.call("get_thread", thread_id=tid) == written  # rehydrated from the archive
    assert pal.call("add_turn", thread_id=tid, role="assistant", content="second")
    assert _turns(pal.call("get_thread", thread_id=tid)) == [("user", "first"),
                                                             ("assistant", "second")]  # fmt: skip
