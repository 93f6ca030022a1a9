"""search() on both clients, against a live daemon whose index the test brings up to date."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from client_live import LiveServer

from search_support import index_now
from threadkeeper.client import AsyncClient, Client, InvalidRequest, Unavailable
from threadkeeper.settings import Settings

TURNS = [{"role": "user", "content": f"the walrus number {i}"} for i in range(5)]


def test_search_pages_through_hits_with_their_highlights(live: LiveServer) -> None:
    settings: Settings = live.settings
    with Client(live.url, token=None) as tk:
        with pytest.raises(Unavailable):  # no index yet: 503, as the API says
            tk.search("walrus")
        tk.create(id="w", tool="zoo", turns=TURNS)
        index_now(settings)
        first = tk.search("walrus", limit=3)
        assert len(first.hits) == 3 and first.next is not None
        rest = tk.search("walrus", limit=3, cursor=first.next)
        assert sorted(h.seq for h in first.hits + rest.hits) == [1, 2, 3, 4, 5]
        hit = first.hits[0]
        start, end = hit.highlights[0]
        assert hit.snippet[start:end] == "walrus" and hit.thread_id == "w" and hit.score >= 0
        assert isinstance(hit.updated_at, datetime)
        assert tk.search("walrus", tool="other").hits == []
        future = datetime(2999, 1, 1, tzinfo=UTC)
        assert tk.search("walrus", updated_after=future).hits == []
        with pytest.raises(InvalidRequest):
            tk.search("")


@pytest.mark.anyio
async def test_async_search(live: LiveServer) -> None:
    async with AsyncClient(live.url, token=None) as tk:
        await tk.create(id="w", turns=TURNS)
        await asyncio.to_thread(index_now, live.settings)
        found = await tk.search('"number 3"')
        assert [(h.thread_id, h.seq) for h in found.hits] == [("w", 4)]
