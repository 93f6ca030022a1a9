"""The indexer: follows the change feed into the index; rebuilds and sweeps it.

Position, not consumer group: the last feed entry applied in each bucket is stored in
the index itself, in the transaction that applies the batch (index.py), so a kill -9
at any moment loses nothing and applies nothing twice that matters (a change is read
from the thread as it is, and applying it again changes nothing). Only then is the
feed trimmed up to it.

A rebuild (first start, `threadkeeper reindex`) notes where each feed bucket ends,
clears the index, reads every thread, then follows the feed from the noted ends: a
thread changed while it was read is read again. A sweep compares every indexed
thread's version with Redis's and re-reads those that differ: it catches an event
lost between a cluster's script and its feed write, or trimmed from a feed that an
indexer down for long did not follow (XINFO's max-deleted-entry-id shows that).

One indexer per index: it holds the index's lock file (`lock`). `reindex` asks the
running indexer to rebuild (a row in the index), or rebuilds itself when none runs.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from redis.exceptions import RedisError

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.errors import StoreError
from threadkeeper.models import now_ms
from threadkeeper.search.index import SearchIndex
from threadkeeper.search.reader import ThreadReader, Wanted
from threadkeeper.store.feed import Event, parse_event

log = logging.getLogger("threadkeeper.search")

BATCH = 500  # feed entries read per bucket per step
READ_BATCH = 200  # threads read per round trip in a rebuild or a sweep
POLL = 0.1  # seconds between looks at an idle feed
GAP_CHECK_EVERY = 5.0  # seconds between looks for entries trimmed unread
REBUILD = "rebuild_requested"
FULL_KINDS = frozenset({"create", "delete", "restore"})


def id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms or 0), int(n or 0)


class IndexLock:
    """The index's writer lock (flock: released by the kernel when the holder dies)."""

    def __init__(self, index_path: Path) -> None:
        self.path = index_path.with_name(index_path.name + ".lock")
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("ab")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def plan(events: list[Event], index: SearchIndex) -> list[Wanted]:
    """What to read for a batch of events: one read per thread, as little as will do."""
    by_thread: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        by_thread[(event.tenant, event.thread_id)].append(event)
    wanted = []
    for (tenant, thread_id), evs in by_thread.items():
        wanted.append(_wanted(tenant, thread_id, evs, index))
    return wanted


def _wanted(tenant: str, thread_id: str, events: list[Event], index: SearchIndex) -> Wanted:
    kinds = {e.kind for e in events}
    held = index.indexed(tenant, thread_id)
    if held is None or kinds & FULL_KINDS or not kinds <= {"append", "meta", "edit"}:
        return Wanted(tenant, thread_id)
    if "edit" in kinds:
        seqs = tuple(sorted({e.seq for e in events if e.kind == "edit"}))
        if "append" in kinds or 0 in seqs:
            return Wanted(tenant, thread_id)
        return Wanted(tenant, thread_id, full=False, seqs=seqs, created_at=held.created_at)
    return Wanted(tenant, thread_id, full=False, since=held.max_seq, created_at=held.created_at)


@dataclass
class Indexer:
    redis: Any
    index: SearchIndex
    reader: ThreadReader
    sweep_interval: float | None = 600.0
    batch: int = BATCH
    clock: Any = now_ms
    _last_sweep: float = 0.0
    _last_gap_check: float = 0.0
    applied: int = field(default=0)  # events applied since start

    # -- following the feed -----------------------------------------------------

    async def step(self) -> int:
        """Apply the next events of every bucket; how many there were."""
        positions = self.index.positions()
        read = await self._read_feed(positions)
        events = [e for evs in read.values() for e in evs]
        if not events:
            return 0
        changes = await self.reader.read(plan(events, self.index))
        reached = {bucket: evs[-1].id for bucket, evs in read.items() if evs}
        self.index.apply(changes, reached)
        await self._trim(reached)
        self.applied += len(events)
        return len(events)

    async def _read_feed(self, positions: dict[int, str]) -> dict[int, list[Event]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in keys.BUCKETS:
                low = positions.get(bucket)
                pipe.xrange(keys.feed_stream(bucket), f"({low}" if low else "-", "+",
                            count=self.batch)  # fmt: skip
            replies = await pipe.execute()
        return {
            bucket: [parse_event(entry_id, fields) for entry_id, fields in entries]
            for bucket, entries in zip(keys.BUCKETS, replies, strict=True)
        }

    async def _trim(self, reached: dict[int, str]) -> None:
        """Entries before the applied ones go (the last applied stays: it marks the place)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket, last_id in reached.items():
                pipe.xtrim(keys.feed_stream(bucket), minid=last_id, approximate=True)
            await pipe.execute()

    async def catch_up(self) -> int:
        """Apply events until the feed holds no more (tests, `reindex`)."""
        total = 0
        while n := await self.step():
            total += n
        return total

    # -- rebuild and sweep ------------------------------------------------------

    async def feed_ends(self) -> dict[int, str]:
        """The last entry of each feed bucket ("0-0" for an empty one)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in keys.BUCKETS:
                pipe.xrevrange(keys.feed_stream(bucket), "+", "-", count=1)
            replies = await pipe.execute()
        ends = zip(keys.BUCKETS, replies, strict=True)
        return {b: as_text(rows[0][0]) if rows else "0-0" for b, rows in ends}

    async def rebuild(self) -> tuple[int, int]:
        """Index every thread afresh; (threads, turns) then indexed."""
        log.info("rebuilding the search index %s", self.index.path)
        self.index.clear(await self.feed_ends())
        async for batch in self._live_threads():
            wanted = [Wanted(tenant, thread_id) for tenant, thread_id, _ in batch]
            self.index.apply(await self.reader.read(wanted))
        self.index.set_state("built", str(self.clock()))
        self.index.optimize()
        counts = self.index.counts()
        log.info("search index rebuilt: %d threads, %d turns", *counts)
        return counts

    async def _live_threads(self) -> AsyncIterator[list[tuple[str, str, tuple[Any, Any]]]]:
        """Every thread in Redis, in batches: (tenant, id, (created_at, version))."""
        names: list[str] = []
        async for name in self.redis.scan_iter(match=keys.META_PATTERN, count=1000):
            names.append(as_text(name))
            if len(names) >= READ_BATCH:
                yield await self._versions(names)
                names = []
        if names:
            yield await self._versions(names)

    async def _versions(self, names: list[str]) -> list[tuple[str, str, tuple[Any, Any]]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(name, "created_at", "version")
            replies = await pipe.execute()
        found = []
        for name, (created, version) in zip(names, replies, strict=True):
            k = keys.from_member(name[name.index("{") + 1 : name.index("}")])
            if version is not None:
                found.append((k.tenant, k.thread_id, (int(created or 0), int(version))))
        return found

    async def sweep(self) -> int:
        """Re-read every thread whose index rows disagree with Redis; how many there were."""
        held = {(t, i): (c, v) for t, i, c, v in self.index.all_threads()}
        stale: list[tuple[str, str]] = []
        async for batch in self._live_threads():
            for tenant, thread_id, state in batch:
                if held.pop((tenant, thread_id), None) != state:
                    stale.append((tenant, thread_id))
        stale += list(held)  # indexed, and gone from Redis
        for start in range(0, len(stale), READ_BATCH):
            chunk = stale[start : start + READ_BATCH]
            self.index.apply(await self.reader.read([Wanted(t, i) for t, i in chunk]))
        if held:
            self.index.optimize()
        if stale:
            log.info("search sweep: %d threads re-read (%d gone)", len(stale), len(held))
        return len(stale)

    async def _gap(self, positions: dict[int, str]) -> bool:
        """Whether a feed bucket lost entries this index never applied (trimmed unread)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in keys.BUCKETS:
                pipe.execute_command("XINFO", "STREAM", keys.feed_stream(bucket))
            replies = await pipe.execute(raise_on_error=False)
        for bucket, info in zip(keys.BUCKETS, replies, strict=True):
            if isinstance(info, Exception) or not isinstance(info, dict | list):
                continue
            deleted = _info_field(info, "max-deleted-entry-id")
            if deleted and id_tuple(deleted) > id_tuple(positions.get(bucket, "0-0")):
                return True
        return False

    # -- the loop ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the feed until `stop`; rebuild when asked or never built; sweep now and then."""
        self._last_sweep = _monotonic()  # the first sweep one interval after start
        while not stop.is_set():
            try:
                busy = await self._turn()
            except (StoreError, RedisError, OSError) as exc:
                log.warning("search indexer: %s; trying again in 1 s", exc)
                busy = False
                await _wait(stop, 1.0)
            if not busy:
                await _wait(stop, POLL)

    async def _turn(self) -> bool:
        if self.index.state("built") is None or self.index.state(REBUILD) is not None:
            await self.rebuild()
            self.index.set_state(REBUILD, None)
            self._last_sweep = _monotonic()
            return True
        if await self._sweep_due():
            self._last_sweep = _monotonic()
            await self.sweep()
        return await self.step() > 0

    async def _sweep_due(self) -> bool:
        now = _monotonic()
        if self.sweep_interval is not None and now - self._last_sweep >= self.sweep_interval:
            return True
        if now - self._last_gap_check < GAP_CHECK_EVERY:
            return False
        self._last_gap_check = now
        if await self._gap(self.index.positions()):
            log.warning("the change feed lost entries this index had not applied: sweeping")
            return True
        return False


def _info_field(info: Any, name: str) -> str | None:
    if isinstance(info, list):  # a RESP2 flat list, as the cluster client may leave it
        info = dict(zip(info[0::2], info[1::2], strict=False))
    value = info.get(name) or info.get(name.encode())
    return None if value is None else as_text(value)


def _monotonic() -> float:
    return asyncio.get_running_loop().time()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
