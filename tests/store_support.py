"""Helpers for tests of the hot store: a settable clock, turn blobs, threads to create."""

from __future__ import annotations

from threadkeeper.codec import encode_turn, load_turn
from threadkeeper.models import Thread
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.store.thread_store import ThreadStore


class Clock:
    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def blob(content: str, role: str = "user", at: int = 1) -> bytes:
    turn = {"role": role, "content": content, "files": [], "images": [], "metadata": {}}
    return encode_turn(turn, at)


def new_thread(thread_id: str = "t1", tenant: str = "acme", n: int = 0, at: int = 1) -> Thread:
    return Thread(
        id=thread_id, tenant=tenant, created_at=at, updated_at=at, title=None, tool="chat",
        metadata={}, parent_id=None, fork_seq=None, turn_count=n, byte_count=0, version=1,
        archived_version=0, archived_at=None, dirty_since=at,
    )  # fmt: skip


async def make(store: ThreadStore, n: int, thread_id: str = "t1", tenant: str = "acme") -> None:
    blobs = [blob(f"turn {i}") for i in range(1, n + 1)]
    assert await store.create(new_thread(thread_id, tenant, n), blobs)


async def list_all(store: ThreadStore, limit: int, tenant: str = "acme") -> list[str]:
    """Every page of a tenant's listing, in order, by following the cursors."""
    seen: list[str] = []
    page = ThreadQuery(limit=limit)
    while True:
        threads, cursor = await store.listing.threads(tenant, page)
        seen += [x.thread.id for x in threads]
        if cursor is None:
            return seen
        page = ThreadQuery.decode(cursor, limit)


def contents(read_turns: list[tuple[int, bytes]]) -> list[str]:
    return [load_turn(seq, b).content for seq, b in read_turns]
