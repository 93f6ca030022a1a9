"""The index writes that follow a thread's own atomic change.

A thread's hash and stream change in one Lua script; its entries in the activity, dirty
and listing indexes (and, on a cluster, its change-feed event) sit in other slots, so
they are written after it, in the same round trip where they can be. They are hints the
sweeper and the listing check against the thread itself: a stale entry never loses data.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.client import Pipeline

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.models import Thread
from threadkeeper.store.feed import queue_event
from threadkeeper.store.indexes import owned_listings

Moved = tuple[list[str], list[str]]  # (before, after): the listings a change moves it between


class IndexWrites:
    """Writes a thread's index entries and feed events after each change of the thread."""

    def __init__(
        self, redis: Any, *, cluster: bool, feed: bool, cache_ttl_ms: int,
        indexed_metadata: tuple[str, ...],
    ) -> None:  # fmt: skip
        self.redis = redis
        self.cluster = cluster  # index buckets are then in other slots than the thread
        self.feed = feed  # record change-feed events (feed.py); off: search sees no writes
        self.cache_ttl_ms = cache_ttl_ms  # a cache (no archive) keeps no dirty index
        self.indexed_metadata = indexed_metadata  # THREADKEEPER_INDEXED_METADATA

    def with_feed(self, k: keys.ThreadKeys, names: list[str]) -> list[str]:
        """A feed-writing script's keys: on a standalone Redis the feed bucket goes last,
        and the script records the event itself (feed.py)."""
        return names if self.cluster or not self.feed else [*names, k.feed]

    def feed_beside(self, pipe: Pipeline, k: keys.ThreadKeys, kind: str, seq: int = 0) -> None:
        """On a cluster, the event the script could not write (another slot)."""
        if self.cluster and self.feed:
            queue_event(pipe, k, kind, seq)

    def listings(self, thread: Thread) -> list[str]:
        """The listings beyond its tenant's that hold `thread` (its owner's, its indexed
        metadata's): kept in its hash, so that the writes that move it find them."""
        return owned_listings(thread, self.indexed_metadata)

    def listings_field(self, thread: Thread) -> dict[str, str]:
        names = self.listings(thread)
        return {"listings": " ".join(names)} if names else {}

    async def created(self, k: keys.ThreadKeys, thread: Thread, *, again: bool = False) -> None:
        # Again (a replayed create): never move an index back past a later write.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(k.activity, {k.member: thread.updated_at}, gt=again)
            if not self.cache_ttl_ms and thread.dirty:
                since = thread.dirty_since or thread.updated_at
                pipe.zadd(k.dirty, {k.member: since}, nx=True)
            for listing in (k.listing, *self.listings(thread)):
                pipe.zadd(listing, {thread.id: thread.updated_at}, gt=again)
            self.feed_beside(pipe, k, "create")
            await pipe.execute()

    def appended(self, k: keys.ThreadKeys, now: int, pipe: Pipeline) -> None:
        """On a cluster, the index writes an append's script cannot make (other slots)."""
        pipe.zadd(k.activity, {k.member: now}, xx=True)
        if not self.cache_ttl_ms:
            pipe.zadd(k.dirty, {k.member: now}, nx=True)
        pipe.zadd(k.listing, {k.thread_id: now}, xx=True)
        self.feed_beside(pipe, k, "append")  # the first seq is the script's to know: 0

    async def move_listings(self, k: keys.ThreadKeys, names: list[str], now: int) -> None:
        """On a cluster, the owner's and metadata listings after a write (a second round
        trip, only for threads that have them: the script said which)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zadd(name, {k.thread_id: now}, xx=True, gt=True)
            await pipe.execute()

    async def edited(
        self, k: keys.ThreadKeys, now: int, kind: str, seq: int = 0, moved: Moved | None = None
    ) -> None:
        """After an edit in place: the thread's new activity, and the listings it moved
        between (`moved`; None: the same listings as before, which its hash names)."""
        if moved is None:
            listed = await self.redis.hget(k.meta, "listings")
            moved = ([], as_text(listed).split() if listed else [])
        before, after = moved
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(k.activity, {k.member: now}, xx=True)
            if not self.cache_ttl_ms:
                pipe.zadd(k.dirty, {k.member: now}, nx=True)
            pipe.zadd(k.listing, {k.thread_id: now}, xx=True)
            for name in set(before) - set(after):
                pipe.zrem(name, k.thread_id)
            for name in after:  # a listing it joins gets it too (not XX)
                pipe.zadd(name, {k.thread_id: now}, gt=True)
            self.feed_beside(pipe, k, kind, seq)
            await pipe.execute()

    async def deleted(self, k: keys.ThreadKeys, listings: list[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(k.activity, k.member)
            pipe.zrem(k.dirty, k.member)
            for listing in (k.listing, *listings):
                pipe.zrem(listing, k.thread_id)
            self.feed_beside(pipe, k, "delete")
            await pipe.execute()

    async def undirty(self, k: keys.ThreadKeys) -> None:
        # ZREM, then re-check (in that order, one round trip): an append that landed
        # meanwhile puts the thread back.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(k.dirty, k.member)
            pipe.hmget(k.meta, ["version", "archived_version", "dirty_since"])
            _, state = await pipe.execute()
        if state[0] is not None and int(state[0]) > int(state[1]):
            await self.redis.zadd(k.dirty, {k.member: int(state[2] or 0)}, nx=True)

    async def restored(self, k: keys.ThreadKeys, thread: Thread) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(k.activity, {k.member: thread.updated_at})
            for listing in (k.listing, *self.listings(thread)):
                pipe.zadd(listing, {thread.id: thread.updated_at})
            if thread.dirty:
                pipe.zadd(k.dirty, {k.member: thread.dirty_since or thread.updated_at})
            self.feed_beside(pipe, k, "restore")
            await pipe.execute()
