"""Every AsyncClient method against a live daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from client_live import LiveServer

from threadkeeper.client import AsyncClient, ThreadNotFound, VersionConflict

pytestmark = pytest.mark.anyio

HI = {"role": "user", "content": "hi"}


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"t{i}"} for i in range(1, n + 1)]


async def test_the_round_trip_of_the_issue(live: LiveServer) -> None:
    async with AsyncClient(live.url, token=None) as tk:
        t = await tk.create(id="chat-42", tool="chat", turns=[HI])
        assert (t.id, t.turn_count) == ("chat-42", 1)
        r = await tk.append("chat-42", [{"role": "assistant", "content": "hello"}])
        assert (r.seqs, r.version) == ([2], 2)
        assert [(x.seq, x.content) async for x in tk.turns("chat-42")] == [(1, "hi"), (2, "hello")]
        got = await tk.get("chat-42")
        assert got.turn_count == 2 and isinstance(got.updated_at, datetime)
        assert [th.id async for th in tk.threads(tool="chat")] == ["chat-42"]
        fork = await tk.fork("chat-42", at_seq=1)
        assert (fork.parent_id, fork.fork_seq) == ("chat-42", 1)
        ctx = await tk.context("chat-42", max_tokens=8000)
        assert [x.content for x in ctx.turns] == ["hi", "hello"]
        await tk.delete("chat-42")
        with pytest.raises(ThreadNotFound) as gone:
            await tk.get("chat-42")
        assert gone.value.reason == "deleted" and gone.value.deleted_at is not None


async def test_turns_follow_cursors_in_both_orders(live: LiveServer) -> None:
    async with AsyncClient(live.url) as tk:
        await tk.create(id="long", turns=_turns(7))
        assert [x.seq async for x in tk.turns("long", page_size=2)] == [1, 2, 3, 4, 5, 6, 7]
        desc = [x.seq async for x in tk.turns("long", order="desc", page_size=3)]
        assert desc == [7, 6, 5, 4, 3, 2, 1]


async def test_threads_every_page_and_filters(live: LiveServer) -> None:
    async with AsyncClient(live.url) as tk:
        for name in ("a", "b", "c"):
            await tk.create(id=name, tool="chat", turns=[HI])
        assert [t.id async for t in tk.threads(tool="chat", page_size=1)] == ["c", "b", "a"]
        later = datetime.now(UTC) + timedelta(hours=1)
        assert [t async for t in tk.threads(updated_after=later)] == []
        assert [t.id async for t in tk.threads(prefix="b", updated_before=later)] == ["b"]


async def test_archive_rehydrate_health_and_a_version_conflict(live: LiveServer) -> None:
    async with AsyncClient(live.url) as tk:
        await tk.create(id="cold", turns=_turns(2))
        assert (await tk.archive("cold")).status in ("queued", "already_queued")
        done = await tk.archive("cold", wait=True)
        assert done.status == "archived"
        assert (await tk.rehydrate("cold")).thread.id == "cold"
        assert "durability" in await tk.health()
        with pytest.raises(VersionConflict) as stale:
            await tk.append("cold", [HI], expected_version=0)
        assert stale.value.current_version == 1 and stale.value.status == 409
