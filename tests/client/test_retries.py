"""Retries never duplicate: answers lost in transit, 429 with Retry-After, 503s, through a
loopback proxy in front of a live daemon."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from client_live import LiveServer, LossyProxy, canned_answer

from threadkeeper.client import AsyncClient, Client, Retries, Unavailable, _sync

HI = {"role": "user", "content": "hi"}
FAST = Retries(attempts=4, backoff=0.05)


def _seqs(live: LiveServer, thread_id: str) -> list[int]:
    with Client(live.url) as tk:
        return [t.seq for t in tk.turns(thread_id)]


def test_an_append_whose_answer_was_lost_is_stored_once(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="lost", turns=[HI])
    proxy = LossyProxy(live.port, drop=1)
    with Client(proxy.url, retries=FAST) as tk:
        r = tk.append("lost", [{"role": "assistant", "content": "once"}])
    assert proxy.forwarded == 2  # the server saw the request twice...
    assert (r.seqs, r.replayed) == ([2], True)  # ...and the second time replayed the first
    assert _seqs(live, "lost") == [1, 2]
    proxy.close()


def test_a_create_whose_answer_was_lost_is_not_a_conflict(live: LiveServer) -> None:
    proxy = LossyProxy(live.port, drop=1)
    with Client(proxy.url, retries=FAST) as tk:
        t = tk.create(id="made-once", turns=[HI])
    assert proxy.forwarded == 2 and t.turn_count == 1
    assert _seqs(live, "made-once") == [1]
    proxy.close()


def test_a_timed_out_append_is_stored_once(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="slow", turns=[HI])
    proxy = LossyProxy(live.port, drop=1, stall=8.0)
    with Client(proxy.url, timeout=2.0, retries=FAST) as tk:
        r = tk.append("slow", [HI])
    assert proxy.forwarded >= 2 and (r.seqs, r.replayed) == ([2], True)
    assert _seqs(live, "slow") == [1, 2]
    proxy.close()


@pytest.mark.anyio
async def test_async_lost_answer_is_stored_once(live: LiveServer) -> None:
    async with AsyncClient(live.url) as tk:
        await tk.create(id="alost", turns=[HI])
    proxy = LossyProxy(live.port, drop=2)
    async with AsyncClient(proxy.url, retries=FAST) as tk:
        r = await tk.append("alost", [HI])
    assert proxy.forwarded == 3 and r.seqs == [2]
    assert _seqs(live, "alost") == [1, 2]
    proxy.close()


def test_every_answer_lost_is_an_unknown_outcome_stored_at_most_once(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="dark", turns=[HI])
    proxy = LossyProxy(live.port, drop=100)
    with Client(proxy.url, retries=FAST) as tk, pytest.raises(Unavailable) as failed:
        tk.append("dark", [HI], idempotency_key="mine")
    assert failed.value.outcome_unknown is True and proxy.forwarded == FAST.attempts
    assert _seqs(live, "dark") == [1, 2]
    with Client(live.url) as tk:  # resent later with the same key: still once
        assert tk.append("dark", [HI], idempotency_key="mine").replayed
    assert _seqs(live, "dark") == [1, 2]
    proxy.close()


def test_429_with_retry_after_is_waited_out(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(_sync, "time", SimpleNamespace(sleep=sleep))
    busy = canned_answer(429, "Too Many Requests", {"Retry-After": "0.1"})
    proxy = LossyProxy(live.port, canned=busy, times=2)
    with Client(proxy.url, retries=FAST) as tk:
        assert tk.create(id="patient", turns=[HI]).turn_count == 1
    assert proxy.forwarded == 1
    assert waits == [0.1, 0.1]  # the server's Retry-After, not FAST's backoff (0.025-0.1 s)
    proxy.close()


def test_503_is_retried_then_reported_as_unavailable(live: LiveServer) -> None:
    problem = json.dumps({"type": "https://threadkeeper.dev/problems/store-unavailable",
                          "title": "Hot store unavailable", "status": 503,
                          "detail": "Redis is loading"}).encode()  # fmt: skip
    headers = {"Content-Type": "application/problem+json", "Retry-After": "0"}
    proxy = LossyProxy(live.port, canned=canned_answer(503, "Unavailable", headers, problem),
                       times=2)  # fmt: skip
    with Client(proxy.url, retries=FAST) as tk:
        assert tk.create(id="after-503", turns=[HI]).id == "after-503"
    proxy.times = 10
    with Client(proxy.url, retries=FAST) as tk, pytest.raises(Unavailable) as down:
        tk.append("after-503", [HI])
    assert (down.value.status, down.value.outcome_unknown) == (503, True)
    assert "loading" in down.value.detail
    proxy.close()


def test_a_search_index_not_built_is_reported_at_once(live: LiveServer) -> None:
    """503 search-unavailable lasts minutes (the index is being built): not retried."""
    proxy = LossyProxy(live.port)
    with Client(proxy.url, retries=FAST) as tk, pytest.raises(Unavailable) as unbuilt:
        tk.search("walrus")
    assert unbuilt.value.status == 503 and unbuilt.value.type.endswith("/search-unavailable")
    assert proxy.forwarded == 1
    proxy.close()
