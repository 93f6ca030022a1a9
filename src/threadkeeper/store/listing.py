"""A tenant's threads, newest first, read through the narrowest listing index and checked
against each thread's own hash (an index entry is a hint: one whose thread is gone, or
has left the index walked, is dropped)."""

from __future__ import annotations

import functools
import json
from typing import Any

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.models import Thread, ThreadState
from threadkeeper.store.connection import translated
from threadkeeper.store.indexes import Driver, TenantListing, driver_for
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.store.records import Listed

LIST_SCAN = 1000  # entries a filtered listing examines per call (THREADKEEPER_MAX_LIST_SCAN)


class ThreadListing:
    """The listing reads; the client is passed in."""

    def __init__(
        self, redis: Any, list_scan: int = LIST_SCAN, indexed_metadata: tuple[str, ...] = ()
    ) -> None:
        self.redis = redis
        self.list_scan = list_scan
        self.indexed_metadata = indexed_metadata  # THREADKEEPER_INDEXED_METADATA

    @translated
    async def threads(self, tenant: str, page: ThreadQuery) -> tuple[list[Listed], str | None]:
        """A tenant's threads, newest first; entries whose thread is gone are dropped.

        A filtered listing examines at most `list_scan` entries per call: a page may then
        come back short, with a cursor that resumes the search where it stopped.
        """
        driver = driver_for(tenant, page, self.indexed_metadata)
        budget = self.list_scan if driver.residual else None
        listing: TenantListing[Listed] = TenantListing(self.redis, tenant, page, budget, driver)
        rows = await listing.collect(functools.partial(self._live_among, driver))
        found = rows[: page.limit]
        if len(rows) > page.limit:
            return found, page.encode(found[-1].score, found[-1].thread.id)
        stop = listing.stopped_at
        return found, page.encode(*stop) if stop is not None else None

    async def _live_among(
        self, driver: Driver, tenant: str, page: ThreadQuery, rows: list[tuple[int, str]]
    ) -> tuple[list[Listed], list[str]]:
        """The live threads among `rows` (score, id) that pass the page's filters, and the
        ids whose thread is gone (or has left the index walked: another owner or value)."""
        gone: list[str] = []
        if driver.residual:
            rows, gone = await self._matching(tenant, page, rows)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, thread_id in rows:
                k = keys.thread_keys(tenant, thread_id)
                pipe.hgetall(k.meta)
                pipe.exists(k.turns)
            replies = await pipe.execute()
        metas, present = replies[0::2], replies[1::2]
        gone += [i for (_, i), m in zip(rows, metas, strict=True) if not m]
        listed = [
            _listed(meta, bool(hot), score)
            for (score, _), meta, hot in zip(rows, metas, present, strict=True)
            if meta
        ]
        if page.owned_filter:
            gone += [x.thread.id for x in listed if not driver.belongs(x.thread)]
            listed = [x for x in listed if _owned_match(page, x.thread)]
        return listed, gone

    async def _matching(
        self, tenant: str, page: ThreadQuery, rows: list[tuple[int, str]]
    ) -> tuple[list[tuple[int, str]], list[str]]:
        """The rows whose thread passes the page's filters, judged by one HMGET of the fields
        they name, and the ids whose thread is gone (every hash holds a title field, '' if
        none)."""
        names = ["title", "tool", "user_id", "metadata"] if page.owned_filter else ["title", "tool"]
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, thread_id in rows:
                pipe.hmget(keys.thread_keys(tenant, thread_id).meta, *names)
            replies = await pipe.execute()
        kept, gone = [], []
        for row, (title, tool, *owned) in zip(rows, replies, strict=True):
            if title is None:
                gone.append(row[1])
            elif page.keeps(row[1], as_text(title), as_text(tool or b"") or None) and (
                not owned or _keeps_owned(page, *owned)
            ):
                kept.append(row)
        return kept, gone


def _owned_match(page: ThreadQuery, thread: Thread) -> bool:
    return page.keeps_owned(thread.user_id, thread.metadata)


def _keeps_owned(page: ThreadQuery, user_id: bytes | None, metadata: bytes | None) -> bool:
    owner = as_text(user_id) if user_id else None
    return page.keeps_owned(owner, json.loads(metadata) if metadata else {})


def _listed(meta: dict[bytes, bytes], turns_in_redis: bool, score: int) -> Listed:
    thread = Thread.from_hash(meta)
    hot = turns_in_redis or thread.turn_count == 0
    return Listed(thread, ThreadState.HOT if hot else ThreadState.ARCHIVED, score)
