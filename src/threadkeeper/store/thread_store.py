"""The hot tier: a thread's metadata hash and turn stream in Redis, changed only by Lua.

Indexes (activity, dirty, per-tenant listing) are written after the thread's own
atomic change, in the same round trip (on a standalone Redis an append's script writes
them itself: one command; on a cluster they live in other slots); they are hints that
the sweeper and the listing check against the thread itself, so a stale entry never
loses data. Each thread's entries sit in one index bucket (keys.py); index_writes.py
writes them, indexes.py reads across all buckets.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from threadkeeper import idempotency, keys
from threadkeeper.codec import TURN_FIELD, as_text
from threadkeeper.errors import StoreError
from threadkeeper.models import Thread, Tombstone, now_ms
from threadkeeper.store.connection import RAW_ENTRIES, translated
from threadkeeper.store.index_writes import IndexWrites
from threadkeeper.store.indexes import Indexes
from threadkeeper.store.listing import LIST_SCAN, ThreadListing
from threadkeeper.store.masters import is_cluster_client
from threadkeeper.store.paging import TurnWindow
from threadkeeper.store.records import (
    STORED,
    Appended,
    Read,
    Reply,
    Restored,
    appended_from,
    reply_of,
)
from threadkeeper.store.replication import ReplicaAcks
from threadkeeper.store.script_calls import ScriptCalls, nothing
from threadkeeper.store.scripts import Scripts

log = logging.getLogger(__name__)


# A keyless append's request id is remembered this long, among the thread's last few:
# redis-py resends a write within the same request, milliseconds later.
RECENT_TTL_MS = 300_000
RECENT_MAX = 32


def new_request_id() -> str:
    return secrets.token_urlsafe(12)


def _flatten(mapping: Mapping[Any, Any]) -> list[Any]:
    return [item for pair in mapping.items() for item in pair]


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[0::2], flat[1::2], strict=True))


class ThreadStore:
    """A thread's reads and writes in the hot tier. The client is passed in, never global.

    Composed of the parts each concern lives in: `calls` runs the Lua scripts,
    `index_writes` writes the index entries after each change, `indexes` reads and
    repairs the sharded indexes, `listing` lists a tenant's threads.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        hot_ttl: float | None,
        cache_only: bool = False,
        clock: Any = now_ms,
        list_scan: int = LIST_SCAN,
        replica_acks: int = 0,
        replica_ack_timeout: float = 1.0,
        indexed_metadata: tuple[str, ...] = (),
        feed: bool = True,
    ) -> None:
        # redis-py types replies as unions of sync and async results; reply shapes are
        # fixed by the commands we send, so the client is handled as Any here.
        self.redis: Any = redis
        self.cluster = is_cluster_client(redis)  # index buckets are then in other slots
        self.scripts = Scripts.register(redis)
        self.calls = ScriptCalls(redis)
        self.indexes = Indexes(redis)
        self.hot_ttl_ms = 0 if hot_ttl is None else int(hot_ttl * 1000)
        # Without an archive, threads are a cache: the hot TTL applies from each write.
        self.cache_ttl_ms = self.hot_ttl_ms if cache_only else 0
        self.clock = clock
        self.listing = ThreadListing(redis, list_scan, indexed_metadata)
        self.index_writes = IndexWrites(
            redis, cluster=self.cluster, feed=feed, cache_ttl_ms=self.cache_ttl_ms,
            indexed_metadata=indexed_metadata,
        )  # fmt: skip
        timeout_ms = int(replica_ack_timeout * 1000)
        self.acks = ReplicaAcks(redis, replica_acks, timeout_ms) if replica_acks else None

    # -- writes ---------------------------------------------------------------

    @translated
    async def remember_archive(self, url: str) -> None:
        """Record that the archive at `url` holds verified snapshots (first time kept)."""
        await self.redis.hsetnx(keys.ARCHIVES, url, self.clock())

    @translated
    async def create(self, thread: Thread, blobs: Sequence[bytes], *, create_key: str = "") -> bool:
        """Store a new thread with its first turns; False if the id is taken.

        The id taken by this same `create_key` is this create resent (redis-py retries a
        write whose reply was lost): still False, for the caller compares keys, but the
        indexes the first attempt never got to write are written now.
        """
        k = keys.thread_keys(thread.tenant, thread.id)
        fields = thread.to_hash() | {
            "create_key": create_key,
            **self.index_writes.listings_field(thread),
        }
        args = [self.cache_ttl_ms, create_key, len(fields), *_flatten(fields), *blobs]
        # The indexes follow in their own round trip, once the script says the id was free.
        names = self.index_writes.with_feed(k, k.all)
        (result,) = await self.calls.run_with(self.scripts.create, names, args, nothing)
        status = reply_of(result)
        if status is Reply.REPLAY:
            stored = await self.get(thread.tenant, thread.id)
            if stored is not None:
                await self.index_writes.created(k, stored, again=True)
        if status is not Reply.OK:
            return False
        await self.index_writes.created(k, thread)
        return True

    @translated
    async def append(
        self,
        tenant: str,
        thread_id: str,
        blobs: Sequence[bytes],
        *,
        max_turns: int,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        request_id: str | None = None,
    ) -> Appended:
        """Store turns after the last; a resent request answers as it did the first time.

        Every append carries a request id, so that redis-py resending it after a lost
        reply cannot store it twice: the client's key, or else `request_id` (one is drawn
        here when none is given).
        """
        k = keys.thread_keys(tenant, thread_id)
        now = self.clock()
        expected = "" if expected_version is None else expected_version
        key = idempotency_key or ""
        tag = idempotency.request_tag(key, fingerprint) if key else b""
        request = "" if key else request_id or new_request_id()
        args = [now, expected, key, tag, max_turns, self.cache_ttl_ms,
                request, RECENT_TTL_MS, RECENT_MAX, k.member, thread_id, *blobs]  # fmt: skip
        names = k.appended
        if self.cluster:
            indexes = functools.partial(self.index_writes.appended, k, now)
            result, *_ = await self.calls.run_with(self.scripts.append, names, args, indexes)
        else:  # one command: the script writes the index buckets too, once the turns are in
            names += [k.activity, k.dirty, k.listing, *self.index_writes.with_feed(k, [])]
            result = await self.calls.run(self.scripts.append, names, args)
        appended = appended_from(result, fingerprint)
        if self.cluster and appended.status == Reply.MISSING and not self.cache_ttl_ms:
            await self.index_writes.undirty(k)  # the index write rode along: no thread, no entry
        if self.cluster and appended.status == Reply.OK and len(result) > 4 and result[4]:
            await self.index_writes.move_listings(k, as_text(result[4]).split(), now)
        if self.acks is not None and appended.status in STORED:
            await self.acks.confirm(k, key, request, now)  # a resent duplicate confirms too
        return appended

    @translated
    async def delete(
        self, tenant: str, thread_id: str, reason: str, expected_version: int | None = None
    ) -> int | None:
        """Remove the thread from Redis leaving a tombstone; its version, or None."""
        k = keys.thread_keys(tenant, thread_id)
        expected = "" if expected_version is None else expected_version
        names = self.index_writes.with_feed(k, k.all)
        result = await self.scripts.delete(names, [reason, self.clock(), expected])
        if reply_of(result) is not Reply.OK:
            return None
        await self.index_writes.deleted(k, as_text(result[2]).split() if len(result) > 2 else [])
        return int(result[1])

    @translated
    async def mark_archived(
        self, tenant: str, thread_id: str, version: int, *, created_at: int
    ) -> str:
        """Compare-and-set after a verified snapshot: clean, moved or missing.

        `created_at` names the incarnation snapshotted: a thread deleted and re-created
        since is 'missing', even at the same version (the archive holds none of it).
        """
        k = keys.thread_keys(tenant, thread_id)
        result = await self.scripts.mark_archived(
            k.hot, [version, created_at, self.clock(), self.hot_ttl_ms]
        )
        status = reply_of(result)
        if status is Reply.CLEAN:
            await self.index_writes.undirty(k)
        return status

    @translated
    async def restore(
        self,
        thread: Thread,
        blobs: Sequence[bytes],
        records: bytes,
        *,
        create_meta: bool,
        ttl: bool = True,
    ) -> Restored:
        """Put a verified snapshot back, with its idempotency records (idempotency.py);
        creates the metadata too when asked (recover)."""
        k = keys.thread_keys(thread.tenant, thread.id)
        meta: dict[str, Any] = {}
        if create_meta:
            meta = thread.to_hash() | self.index_writes.listings_field(thread)
        buckets = idempotency.buckets(records)
        args = [thread.version, self.hot_ttl_ms if ttl else 0, len(meta), len(buckets),
                *_flatten(meta), *_flatten(buckets), *blobs]  # fmt: skip
        result = await self.scripts.restore(self.index_writes.with_feed(k, k.all), args)
        status = reply_of(result)
        if status is Reply.OK and create_meta:
            await self.index_writes.restored(k, thread)
        values = [int(v) for v in result[1:]]
        return Restored(status, *values)

    @translated
    async def touch(self, tenant: str, thread_id: str) -> None:
        k = keys.thread_keys(tenant, thread_id)
        now = self.clock()

        def activity(pipe: Pipeline) -> None:
            pipe.zadd(k.activity, {k.member: now}, xx=True)

        await self.calls.run_with(self.scripts.touch, k.hot, [now, self.hot_ttl_ms], activity)

    # -- reads ----------------------------------------------------------------

    @translated
    async def get(self, tenant: str, thread_id: str) -> Thread | None:
        raw = await self.redis.hgetall(keys.thread_keys(tenant, thread_id).meta)
        return Thread.from_hash(raw) if raw else None

    @translated
    async def read(self, tenant: str, thread_id: str, page: TurnWindow) -> Read | None:
        """Metadata and one page of turns, in one round trip.

        Not MULTI: a Redis over maxmemory refuses every command queued in a transaction,
        reads too, and reads must keep working then. A write landing between the three
        reads is harmless: a stream gone by the PTTL leads to rehydrate, which finds the
        thread restored, deleted (tombstone) or present, and a page may show a turn the
        metadata does not count yet.
        """
        k = keys.thread_keys(tenant, thread_id)
        low, high = page.redis_range()
        asc = page.order == "asc"
        command, start, end = ("XRANGE", low, high) if asc else ("XREVRANGE", high, low)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.meta)
            pipe.execute_command(command, k.turns, start, end, "COUNT", page.limit + 1,
                                 **{RAW_ENTRIES: True})  # fmt: skip
            pipe.pttl(k.turns)
            raw, entries, ttl = await pipe.execute()
        if not raw:
            return None
        thread = Thread.from_hash(raw)
        # Each entry is [b"0-<seq>", [b"t", turn]]: every script writes ids as `0-<seq>`
        # (codec.stream_id) and a turn as the stream's only field (codec.TURN_FIELD).
        turns = [(int(entry_id[2:]), fields[1]) for entry_id, fields in entries]
        present = ttl != -2 or thread.turn_count == 0
        return Read(thread, turns[: page.limit], len(turns) > page.limit, present)

    @translated
    async def owner(self, tenant: str, thread_id: str) -> tuple[bool, str | None]:
        """(held, owner): whether Redis holds the thread or its tombstone, and whose it is."""
        k = keys.thread_keys(tenant, thread_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(k.meta, "id", "user_id")
            pipe.hget(k.tombstone, "user_id")
            (held, owner), buried = await pipe.execute()
        if held is not None:
            return True, as_text(owner) if owner else None
        return buried is not None, as_text(buried) if buried else None

    @translated
    async def meta_field(self, tenant: str, thread_id: str, name: str) -> str | None:
        value = await self.redis.hget(keys.thread_keys(tenant, thread_id).meta, name)
        return None if value is None else as_text(value)

    @translated
    async def turn_blobs(self, tenant: str, thread_id: str, upto: int) -> list[bytes]:
        """Turns 1..upto, as stored (for a fork)."""
        turns = keys.thread_keys(tenant, thread_id).turns
        entries = await self.redis.xrange(turns, "-", f"0-{upto}")
        return [fields[TURN_FIELD] for _, fields in entries]

    @translated
    async def all_turns(
        self, tenant: str, thread_id: str
    ) -> tuple[Thread, list[bytes], bytes] | None:
        """Everything a snapshot needs, read atomically: metadata, turns, idempotency records
        (those of older versions converted)."""
        k = keys.thread_keys(tenant, thread_id)
        flat_meta, entries, buckets, flat_legacy, flat_old = await self.scripts.read_all(k.hot)
        if not flat_meta:
            return None
        raw = _pairs(flat_meta)
        blobs = [_pairs(fields)[TURN_FIELD] for _, fields in entries]
        legacy = {
            as_text(key): value for key, value in (_pairs(flat_old) | _pairs(flat_legacy)).items()
        }
        try:
            older = idempotency.from_legacy(legacy)
        except ValueError as exc:
            raise StoreError(f"thread {tenant}:{thread_id}: {exc}") from exc
        return Thread.from_hash(raw), blobs, older + b"".join(buckets)

    @translated
    async def bury(self, tenant: str, thread_id: str, fields: dict[str, Any]) -> str:
        """Recreate a deleted thread's tombstone unless Redis holds the thread or one:
        'present' (the thread is live) or 'tombstoned'."""
        k = keys.thread_keys(tenant, thread_id)
        return reply_of(await self.scripts.bury([k.meta, k.tombstone], _flatten(fields)))

    @translated
    async def tombstone(self, tenant: str, thread_id: str) -> Tombstone | None:
        raw = await self.redis.hgetall(keys.thread_keys(tenant, thread_id).tombstone)
        return Tombstone.from_hash(raw) if raw else None

    @translated
    async def turns_exist(self, tenant: str, thread_id: str) -> bool:
        return bool(await self.redis.exists(keys.thread_keys(tenant, thread_id).turns))
