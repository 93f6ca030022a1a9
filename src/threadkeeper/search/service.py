"""Searching a tenant's threads, and how far the index is behind: what the API calls."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.errors import InvalidInput, SearchUnavailable
from threadkeeper.models import now_ms
from threadkeeper.search.index import MARK_CLOSE, MARK_OPEN, Filters, Hit, IndexReader
from threadkeeper.search.query import parse_query
from threadkeeper.settings import Settings

NOT_BUILT = (
    "the search index {path} is not built yet: the indexer builds it from Redis and the "
    "archive (`threadkeeper up` runs it; else run `threadkeeper indexer`); try again shortly"
)


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit]
    next: str | None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """Whether the index is built, and how old the oldest change it has not applied is."""

    built: bool
    lag_seconds: float | None  # None: not built (or unreadable)
    waiting: bool  # some change is not applied yet


@contextmanager
def _readable(path: object) -> Iterator[None]:
    """SQLite's errors, as ours, once (the index is missing, locked, or damaged)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise SearchUnavailable(
            f"the search index {path} cannot be read ({exc}): `threadkeeper reindex` rebuilds "
            "it from Redis and the archive",
        ) from exc


def _fingerprint(q: str, filters: Filters) -> str:
    raw = json.dumps([q, filters.tool, filters.updated_after, filters.updated_before,
                      filters.user_id])  # fmt: skip
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:12]


def encode_cursor(offset: int, q: str, filters: Filters) -> str:
    raw = json.dumps({"o": offset, "f": _fingerprint(q, filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, q: str, filters: Filters) -> int:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, seen = int(raw["o"]), raw["f"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput(
            "cursor is not one this API gave: pass `next` as it came", field="cursor"
        ) from None
    if seen != _fingerprint(q, filters) or offset < 0:
        raise InvalidInput(
            "cursor belongs to another query: page with the same q and filters it came with",
            field="cursor",
        )
    return offset


def marked(snippet: str) -> tuple[str, list[list[int]]]:
    """A snippet with FTS5's marks -> its plain text and the [start, end) of each match."""
    text: list[str] = []
    spans: list[list[int]] = []
    at = 0
    for ch in snippet:
        if ch == MARK_OPEN:
            spans.append([at, at])
        elif ch == MARK_CLOSE and spans:
            spans[-1][1] = at
        else:
            text.append(ch)
            at += 1
    return "".join(text), spans


class SearchService:
    """Reads the index (any number of processes at once) and the feed's backlog."""

    def __init__(self, settings: Settings, redis: Any, clock: Any = now_ms) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.path = settings.search_index_path
        self.reader = IndexReader(self.path)

    async def search(
        self, tenant: str, q: str | None, filters: Filters, limit: int, cursor: str | None
    ) -> SearchPage:
        limits = self.settings.limits
        query = parse_query(q, limits.max_search_query, limits.max_search_terms)
        offset = decode_cursor(cursor, query.text, filters) if cursor else 0
        hits = await asyncio.to_thread(self._search, tenant, query.match, filters, limit, offset)
        more = len(hits) > limit
        hits = hits[:limit]
        nxt = encode_cursor(offset + limit, query.text, filters) if more else None
        return SearchPage(hits, nxt)

    def _search(
        self, tenant: str, match: str, filters: Filters, limit: int, offset: int
    ) -> list[Hit]:
        if not self.reader.exists():
            raise SearchUnavailable(NOT_BUILT.format(path=self.path))
        with _readable(self.path):
            if not self.reader.built():
                raise SearchUnavailable(NOT_BUILT.format(path=self.path))
            return self.reader.search(tenant, match, filters, limit + 1, offset)

    async def status(self) -> IndexStatus:
        """The index lag: the age of the oldest feed event not applied yet (0 if none)."""
        positions = await asyncio.to_thread(self._positions)
        if positions is None:
            return IndexStatus(False, None, False)
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in keys.BUCKETS:
                low = positions.get(bucket)
                pipe.xrange(keys.feed_stream(bucket), f"({low}" if low else "-", "+", count=1)
            replies = await pipe.execute()
        firsts = [int(as_text(rows[0][0]).partition("-")[0]) for rows in replies if rows]
        if not firsts:
            return IndexStatus(True, 0.0, False)
        return IndexStatus(True, max(0.0, (self.clock() - min(firsts)) / 1000), True)

    def _positions(self) -> dict[int, str] | None:
        if not self.reader.exists():
            return None
        try:
            return self.reader.positions() if self.reader.built() else None
        except sqlite3.Error:
            return None
