"""Full-text search over every thread of a tenant, hot or archived.

    query.py    what a user types -> an FTS5 query (words, "phrases", prefix*)
    index.py    the SQLite FTS5 index in the home: one writer, many readers
    reader.py   a thread's text as it is now, from Redis or its snapshot
    indexer.py  follows the change feed (feed.py) into the index; rebuild, sweep
    service.py  searching, and the index lag, for the API

Why SQLite's FTS5 (BENCHMARKS.md, search): in the standard library, BM25, snippets,
phrases and prefixes built in, one file that several API processes read while the
indexer writes (WAL); tantivy indexed faster but adds a native dependency and its
index cannot be read by another process while one writes without reopening.
"""

from __future__ import annotations

from threadkeeper.search.index import Filters, Hit
from threadkeeper.search.service import IndexStatus, SearchPage, SearchService, marked

__all__ = ["Filters", "Hit", "IndexStatus", "SearchPage", "SearchService", "marked"]
