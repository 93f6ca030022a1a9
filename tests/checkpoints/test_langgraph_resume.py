"""A real StateGraph with a messages channel on ThreadkeeperSaver: three turns, then a fresh
saver in a fresh process resumes the thread; again once the thread went cold and came back
from the archive; again after `archive --all`, the loss of all Redis data and `recover`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import redis
from langgraph_support import THREAD, chat, heard

from live_server import LiveServer
from threadkeeper import keys
from threadkeeper.settings import Settings
from waiting import wait_for


def tk(settings: Settings, *args: str) -> str:
    env = {**os.environ, "THREADKEEPER_REDIS_URL": str(settings.redis_url),
           "THREADKEEPER_ARCHIVE_URL": str(settings.archive_url),
           "THREADKEEPER_HOME": str(settings.home), "THREADKEEPER_HOT_TTL": "1s"}  # fmt: skip
    if settings.queue_redis_url:
        env["THREADKEEPER_QUEUE_REDIS_URL"] = settings.queue_redis_url
    out = subprocess.run([sys.executable, "-m", "threadkeeper", *args], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, f"threadkeeper {' '.join(args)}: {out.stdout}\n{out.stderr}"
    return out.stdout


def wait_cold(client: redis.Redis, thread_id: str) -> None:
    """Until the archived thread's turns left Redis (its hot TTL lapsed)."""
    turns = keys.thread_keys("default", thread_id).turns
    wait_for(lambda: not client.exists(turns), "the archived thread's turns to leave Redis",
             timeout=60)  # fmt: skip


def test_a_fresh_process_resumes_the_thread_hot_cold_and_after_recover(
    make_settings: Callable[..., Settings],
) -> None:
    from threadkeeper.integrations.langgraph import thread_key

    settings = make_settings(hot_ttl=1.0)
    server = LiveServer(settings).start()
    try:
        said = chat(server.url, "one", "two", "three")
        assert said[-1] == ["ai", heard("one", "two", "three")] and len(said) == 6

        said = chat(server.url, "four", use_async=True)  # a fresh saver, a fresh process
        assert said[-1] == ["ai", heard("one", "two", "three", "four")] and len(said) == 8

        tk(settings, "archive", "--all", "--wait")
        with redis.Redis.from_url(str(settings.redis_url)) as client:
            wait_cold(client, thread_key(THREAD))
        said = chat(server.url, "five")  # rehydrated on the saver's first read
        assert said[-1] == ["ai", heard("one", "two", "three", "four", "five")]

        tk(settings, "archive", "--all", "--wait")
        with redis.Redis.from_url(str(settings.redis_url)) as client:
            client.flushall()
        tk(settings, "recover")
        said = chat(server.url, "six")
        assert said[-1] == ["ai", heard("one", "two", "three", "four", "five", "six")]
        assert len(said) == 12
        _shown_everywhere(server.url, settings, thread_key(THREAD))
    finally:
        server.stop()


def _shown_everywhere(url: str, settings: Settings, thread_id: str) -> None:
    """Listed under LangGraph's thread_id, exported, and its messages in the console."""
    listed = httpx.get(f"{url}/v1/threads", params={"tool": "langgraph"}).json()["threads"]
    assert [(t["id"], t["title"]) for t in listed] == [(thread_id, THREAD)]
    exported = tk(settings, "export", thread_id, "--tenant", "default").splitlines()
    assert len(exported) == 1 and json.loads(exported[0])["thread"]["title"] == THREAD
    # A LangGraph thread opens at its newest turns (5 a page here): its latest messages.
    page = httpx.get(f"{url}/ui/threads/{thread_id}?limit=5", headers={"accept": "text/html"})
    latest = heard("one", "two", "three", "four", "five", "six")
    assert page.status_code == 200 and latest in page.text and "six</pre>" in page.text
