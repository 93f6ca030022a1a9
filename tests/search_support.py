"""Running the search indexer in a test: in-process, until the feed is drained."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from threadkeeper.runtime import build_runtime
from threadkeeper.search.index import SearchIndex
from threadkeeper.search.indexer import Indexer
from threadkeeper.search.reader import ThreadReader
from threadkeeper.settings import Settings


async def _index(settings: Settings, *, rebuild: bool, sweep: bool) -> int:
    runtime = build_runtime(settings)
    index = SearchIndex(settings.search_index_path)
    try:
        indexer = Indexer(runtime.redis, index, ThreadReader(runtime.redis, runtime.tiering))
        if rebuild or index.state("built") is None:
            await indexer.rebuild()
        if sweep:
            await indexer.sweep()
        return await indexer.catch_up()
    finally:
        index.close()
        await runtime.close()


def index_now(settings: Settings, *, rebuild: bool = False, sweep: bool = False) -> int:
    """Bring the index up to date (building it first if needed); events applied. From an
    async test too: then on a thread of its own, blocking the test's loop meanwhile."""
    work = _index(settings, rebuild=rebuild, sweep=sweep)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()
