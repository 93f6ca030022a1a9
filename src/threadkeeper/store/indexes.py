"""Reads that span every bucket of the sharded indexes (keys.py says why they are split).

Each read sends one command per bucket in one pipeline: on a cluster redis-py groups
them by master and asks the masters in parallel, so a read costs one round trip to
each master, and no master holds more than its share of the buckets.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.models import Thread
from threadkeeper.store.connection import translated
from threadkeeper.store.paging import ThreadQuery, metadata_text

Row = tuple[int, str]  # (score, id) of one listing entry
FILTERED_BATCH = 512  # index rows read per round trip (all buckets) when a listing filters
T = TypeVar("T")


def purge_member(k: keys.ThreadKeys, reason: str, at: int) -> str:
    """Exact per deletion: a later deletion of a re-created id is owed separately."""
    return f"{k.tenant}:{k.thread_id}:{reason}:{at}"


def _bucketed(index: Callable[[int], str]) -> Callable[[str], str]:
    return lambda member: index(keys.bucket_of(member))


def _purge_bucket(member: str) -> str:
    tenant, thread_id, *_ = member.split(":")
    return keys.thread_keys(tenant, thread_id).purges


def _listing_of(tenant: str) -> Callable[[str], str]:
    return lambda thread_id: keys.thread_keys(tenant, thread_id).listing


class Indexes:
    """The global indexes, read across their buckets."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.adopted = False

    @translated
    async def adopt_legacy(self) -> int:
        """Move an earlier version's unsharded index entries into their buckets, once.

        Entries are added without lowering what the buckets hold (NX for dirty-since,
        GT for the rest), then the old key goes; a crash midway repeats harmlessly.
        """
        if self.adopted:
            return 0
        moved = await self._adopt(keys.LEGACY_DIRTY_INDEX, _bucketed(keys.dirty_index), nx=True)
        moved += await self._adopt(keys.LEGACY_ACTIVITY_INDEX, _bucketed(keys.activity_index))
        moved += await self._adopt(keys.LEGACY_PURGE_INDEX, _purge_bucket)
        async for name in self.redis.scan_iter(match=keys.LEGACY_TENANT_INDEXES, count=500):
            tenant = as_text(name).removeprefix(keys.LEGACY_TENANT_INDEXES[:-1])
            moved += await self._adopt(as_text(name), _listing_of(tenant))
        self.adopted = True
        return moved

    async def _adopt(self, legacy: str, key_for: Callable[[str], str], *, nx: bool = False) -> int:
        moved = 0
        async for member, score in self.redis.zscan_iter(legacy, count=500):
            name = as_text(member)
            await self.redis.zadd(key_for(name), {name: score}, nx=nx, gt=not nx)
            moved += 1
        await self.redis.delete(legacy)
        return moved

    async def _each(self, command: Callable[[Any, int], Any]) -> list[Any]:
        """`command(pipe, bucket)` for every bucket, in one pipeline; replies by bucket."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in keys.BUCKETS:
                command(pipe, bucket)
            return list(await pipe.execute())

    @translated
    async def due_for_snapshot(
        self, now: int, idle_ms: int, backup_ms: int, limit: int
    ) -> list[str]:
        """Dirty threads idle for `idle_ms`, or dirty for longer than `backup_ms`.

        A thread idle since `now - idle_ms` has been dirty at least that long, so both
        kinds sit at the low end of each dirty bucket; a window of each is enough.
        """
        idle_before = now - idle_ms
        windows = await self._each(
            lambda pipe, b: pipe.zrangebyscore(
                keys.dirty_index(b), "-inf", idle_before, start=0, num=limit * 4, withscores=True
            )
        )
        rest = [[m for m, since in rows if since > now - backup_ms] for rows in windows]
        idle = await self._idle_among(rest, idle_before)
        overdue = [(since, m) for rows in windows for m, since in rows if since <= now - backup_ms]
        chosen = [m for _, m in sorted(overdue)] + [m for _, m in sorted(idle)]
        return [as_text(m) for m in chosen[:limit]]

    async def _idle_among(
        self, members: list[list[bytes]], idle_before: int
    ) -> list[tuple[float, bytes]]:
        """(last touch, member) of those not touched since `idle_before`; by bucket in."""
        buckets = [b for b in keys.BUCKETS if members[b]]
        if not buckets:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for b in buckets:
                pipe.zmscore(keys.activity_index(b), members[b])
            replies = await pipe.execute()
        return [
            (score or 0.0, m)
            for b, scores in zip(buckets, replies, strict=True)
            for m, score in zip(members[b], scores, strict=True)
            if score is None or score <= idle_before
        ]

    @translated
    async def idle_since(self, before: int, limit: int) -> list[str]:
        windows = await self._each(
            lambda pipe, b: pipe.zrangebyscore(
                keys.activity_index(b), "-inf", before, start=0, num=limit, withscores=True
            )
        )
        rows = heapq.merge(*windows, key=lambda row: row[1])
        return [as_text(m) for m, _ in list(rows)[:limit]]

    @translated
    async def dirty_count(self) -> int:
        return sum(await self._each(lambda pipe, b: pipe.zcard(keys.dirty_index(b))))

    @translated
    async def oldest_dirty(self) -> int | None:
        firsts = await self._each(
            lambda pipe, b: pipe.zrange(keys.dirty_index(b), 0, 0, withscores=True)
        )
        scores = [int(rows[0][1]) for rows in firsts if rows]
        return min(scores) if scores else None

    @translated
    async def owe_purge(self, tenant: str, thread_id: str, reason: str, at: int) -> None:
        """Remember, until `purge_done`, that the archive may still hold a deleted thread."""
        k = keys.thread_keys(tenant, thread_id)
        await self.redis.zadd(k.purges, {purge_member(k, reason, at): at})

    @translated
    async def purge_done(self, tenant: str, thread_id: str, reason: str, at: int) -> None:
        k = keys.thread_keys(tenant, thread_id)
        await self.redis.zrem(k.purges, purge_member(k, reason, at))

    @translated
    async def owed_purges(self, limit: int) -> list[tuple[str, str, str, int]]:
        """The oldest owed purges, as (tenant, id, reason, deleted at)."""
        windows = await self._each(
            lambda pipe, b: pipe.zrange(keys.purge_index(b), 0, limit - 1, withscores=True)
        )
        rows = list(heapq.merge(*windows, key=lambda row: row[1]))[:limit]
        parts = [as_text(member).split(":") for member, _ in rows]
        return [(p[0], p[1], p[2], int(p[3])) for p in parts if len(p) == 4 and p[3].isdigit()]

    @translated
    async def owed_purge_count(self) -> int:
        return sum(await self._each(lambda pipe, b: pipe.zcard(keys.purge_index(b))))

    async def counts(self, active_since: float | str) -> tuple[int, int, int]:
        """(threads indexed, touched since `active_since`, dirty), for /metrics."""

        def three(pipe: Any, b: int) -> None:
            pipe.zcard(keys.activity_index(b))
            pipe.zcount(keys.activity_index(b), active_since, "+inf")
            pipe.zcard(keys.dirty_index(b))

        replies = await self._each(three)
        return sum(replies[0::3]), sum(replies[1::3]), sum(replies[2::3])

    async def user_counts(self, users: tuple[tuple[str, str], ...]) -> dict[tuple[str, str], int]:
        """Threads each (tenant, user) owns: a ZCARD per bucket, one pipeline for all."""

        def each_user(pipe: Any, b: int) -> None:
            for tenant, user in users:
                pipe.zcard(keys.user_index(tenant, user, b))

        replies = await self._each(each_user)
        width = len(users)
        return {pair: sum(replies[i::width]) for i, pair in enumerate(users)}


LiveCheck = Callable[[str, ThreadQuery, list[Row]], Awaitable[tuple[list[T], list[str]]]]


def owned_listings(thread: Thread, indexed: tuple[str, ...]) -> list[str]:
    """The listings beyond its tenant's that hold `thread`: its owner's, and one for each
    indexed metadata key it holds (THREADKEEPER_INDEXED_METADATA)."""
    k = keys.thread_keys(thread.tenant, thread.id)
    names = [k.user_listing(thread.user_id)] if thread.user_id else []
    names += [
        k.metadata_listing(key, metadata_text(thread.metadata[key]))
        for key in indexed
        if key in thread.metadata
    ]
    return names


@dataclass(frozen=True, slots=True)
class Driver:
    """The index a listing walks: the tenant's, one user's, or one indexed metadata pair's.

    `residual`: the page filters by more than the index holds, so rows are judged and
    the walk is budgeted (THREADKEEPER_MAX_LIST_SCAN).
    """

    tenant: str
    user_id: str | None = None
    pair: tuple[str, str] | None = None
    residual: bool = False

    def key(self, bucket: int) -> str:
        if self.user_id is not None:
            return keys.user_index(self.tenant, self.user_id, bucket)
        if self.pair is not None:
            return keys.metadata_index(self.tenant, *self.pair, bucket)
        return keys.tenant_index(self.tenant, bucket)

    def key_of(self, thread_id: str) -> str:
        return self.key(keys.thread_keys(self.tenant, thread_id).bucket)

    def belongs(self, thread: Thread) -> bool:
        """False for an entry its thread has left (a new owner or value): dropped."""
        if self.user_id is not None:
            return thread.user_id == self.user_id
        if self.pair is not None:
            key, value = self.pair
            return key in thread.metadata and metadata_text(thread.metadata[key]) == value
        return True


def driver_for(tenant: str, page: ThreadQuery, indexed: tuple[str, ...]) -> Driver:
    """The narrowest index that holds every thread the page may list."""
    plain = page.tool is None and page.prefix is None
    if page.user_id is not None:
        return Driver(tenant, user_id=page.user_id, residual=not plain or bool(page.metadata))
    pairs = [pair for pair in page.metadata if pair[0] in indexed]
    if pairs:
        return Driver(tenant, pair=pairs[0], residual=not plain or len(page.metadata) > 1)
    return Driver(tenant, residual=page.filtered)


@dataclass
class _Bucket:
    key: str
    offset: int = 0
    done: bool = False
    frontier: Row | None = None  # the last row read, in listing order


def _order(row: Row) -> tuple[int, tuple[int, ...]]:
    """Sort key for listing order: score descending, then id descending, as ZREVRANGE
    (the trailing 1 puts an id after the longer ids it is a prefix of)."""
    return (-row[0], (*(-ord(c) for c in row[1]), 1))


def _upper_bound(page: ThreadQuery) -> float | str:
    """The highest score a page may list: the cursor's, or just under `updated_before`."""
    if page.last_score is not None:
        return page.last_score
    return "+inf" if page.updated_before is None else f"({page.updated_before}"


@dataclass
class TenantListing(Generic[T]):
    """One page of a tenant's listing, merged from its buckets, newest first.

    Keyset paging on (score, id): a page holds the rows strictly after the cursor, so
    a thread is never listed twice, and one that is not written while the pages are
    read is never skipped, whatever else is created, written or deleted meanwhile
    (a thread written meanwhile moves ahead of the cursor: a new listing shows it).

    The buckets are read a few rows at a time each, and a row is only taken once
    every bucket still open has been read past it, so the merge is exact; a page of
    `limit` reads about `limit` rows plus a handful per bucket.
    """

    redis: Any
    tenant: str
    page: ThreadQuery
    budget: int | None = None  # rows a filtered listing examines before it stops
    driver: Driver | None = None  # the index walked: the tenant's unless given
    buckets: list[_Bucket] = field(default_factory=list)
    waiting: list[Row] = field(default_factory=list)
    stopped_at: Row | None = None  # the last row examined, when the budget ran out

    def __post_init__(self) -> None:
        if self.driver is None:
            self.driver = Driver(self.tenant, residual=self.budget is not None)
        self.buckets = [_Bucket(self.driver.key(b)) for b in keys.BUCKETS]

    @property
    def filtered(self) -> bool:
        return self.budget is not None

    @property
    def batch(self) -> int:
        rows = self.page.limit + 1
        if self.filtered:  # a filter may drop most rows: read in larger steps
            rows = max(rows, min(FILTERED_BATCH, self.budget or FILTERED_BATCH))
        return max(4, 2 * rows // keys.INDEX_BUCKETS)

    async def collect(self, live: LiveCheck[T]) -> list[T]:
        """Up to limit + 1 live threads after the cursor, in order; drops stale entries."""
        found: list[T] = []
        stale: dict[str, list[str]] = {}
        limit, examined = self.page.limit, 0
        while len(found) <= limit and (self.waiting or not self._all_done()):
            if not self._all_done():
                await self._read_more()
            ready = self._take_ready(self._wanted(len(found), examined))
            listed, gone = await live(self.tenant, self.page, ready)
            found.extend(listed)
            for thread_id in gone:
                stale.setdefault(self._key_of(thread_id), []).append(thread_id)
            examined += len(ready)
            if self.budget is not None and examined >= self.budget and len(found) <= limit:
                self.stopped_at = ready[-1]
                break
        await self._drop(stale)
        return found

    def _wanted(self, found: int, examined: int) -> int:
        """How many rows to judge next: a filter drops most, so judge what the budget allows."""
        wanted = self.page.limit + 1 - found
        if self.filtered:
            wanted = max(wanted, (self.budget or FILTERED_BATCH) - examined)
        return wanted

    def _all_done(self) -> bool:
        return all(b.done for b in self.buckets)

    async def _read_more(self) -> None:
        page, batch = self.page, self.batch
        high = _upper_bound(page)
        low = "-inf" if page.updated_after is None else f"({page.updated_after}"
        open_buckets = [b for b in self.buckets if not b.done]
        async with self.redis.pipeline(transaction=False) as pipe:
            for b in open_buckets:
                pipe.zrevrangebyscore(b.key, high, low, start=b.offset, num=batch, withscores=True)
            replies = await pipe.execute()
        for b, rows in zip(open_buckets, replies, strict=True):
            b.offset += len(rows)
            b.done = len(rows) < batch
            read = [(int(score), as_text(m)) for m, score in rows]
            if read:
                b.frontier = read[-1]
            self.waiting.extend(row for row in read if not self._seen(row))

    def _take_ready(self, most: int) -> list[Row]:
        """The first `most` waiting rows that no open bucket can still precede."""
        bounds = [_order(b.frontier) for b in self.buckets if not b.done and b.frontier]
        bound = min(bounds) if bounds else None
        self.waiting.sort(key=_order)
        ready = [row for row in self.waiting if bound is None or _order(row) <= bound]
        taken = ready[:most]
        self.waiting = self.waiting[len(taken) :]
        return taken

    def _seen(self, row: Row) -> bool:
        """True for rows at or before the cursor (ties broken by id, descending)."""
        page = self.page
        if page.last_score is None or page.last_id is None:
            return False
        return row[0] == page.last_score and row[1] >= page.last_id

    def _key_of(self, thread_id: str) -> str:
        assert self.driver is not None
        return self.driver.key_of(thread_id)

    async def _drop(self, stale: dict[str, list[str]]) -> None:
        """Only now: removing them mid-page would shift the offsets past live ones."""
        if not stale:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, ids in stale.items():
                pipe.zrem(key, *ids)
            await pipe.execute()
