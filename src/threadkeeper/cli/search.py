"""`threadkeeper indexer`, `reindex` and `search`: the full-text index and its queries."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from typing import Any

import click
import msgspec

from threadkeeper.api.search import wire_hit
from threadkeeper.cli import EXIT_FAILED, main
from threadkeeper.cli.common import load_settings, run
from threadkeeper.errors import AlreadyRunning
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.runtime import Runtime
from threadkeeper.search import Filters, SearchService
from threadkeeper.search.index import SearchIndex
from threadkeeper.search.indexer import REBUILD, Indexer, IndexLock
from threadkeeper.search.reader import ThreadReader
from threadkeeper.settings import Settings
from threadkeeper.wire.decode import check_id
from threadkeeper.wire.shapes import SearchResults

log = logging.getLogger("threadkeeper.search")
WAIT_EVERY = 0.5


def _indexer(runtime: Runtime, index: SearchIndex) -> Indexer:
    reader = ThreadReader(runtime.redis, runtime.tiering)
    return Indexer(runtime.redis, index, reader, runtime.settings.search_sweep_interval)


def _locked(settings: Settings) -> IndexLock:
    lock = IndexLock(settings.search_index_path)
    if not lock.acquire():
        raise AlreadyRunning(
            f"another indexer holds {lock.path}: one indexer per index (`threadkeeper up` "
            "runs one; `threadkeeper reindex` asks it to rebuild)"
        )
    return lock


@main.command()
def indexer() -> None:
    """Follow the change feed into the search index (`up` runs this); SIGTERM stops it."""
    settings = load_settings()
    lock = _locked(settings)

    async def work(runtime: Runtime) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        index = SearchIndex(settings.search_index_path)
        log.info("search indexer on %s", settings.search_index_path)
        try:
            await _indexer(runtime, index).run(stop)
        finally:
            index.close()

    try:
        run(settings, work)
    finally:
        lock.release()


@main.command()
def reindex() -> None:
    """Rebuild the search index from Redis and the archive (by the running indexer if any)."""
    settings = load_settings()
    lock = IndexLock(settings.search_index_path)
    if lock.acquire():
        try:
            threads, turns = run(settings, _rebuild_here)
        finally:
            lock.release()
    else:
        threads, turns = _ask_indexer(settings)
    click.echo(f"search index rebuilt: {threads} thread(s), {turns} turn(s)")


async def _rebuild_here(runtime: Runtime) -> tuple[int, int]:
    index = SearchIndex(runtime.settings.search_index_path)
    try:
        indexer = _indexer(runtime, index)
        counts = await indexer.rebuild()
        await indexer.catch_up()
        return counts
    finally:
        index.close()


def _ask_indexer(settings: Settings) -> tuple[int, int]:
    """The running indexer rebuilds (one writer per index): ask, then wait for it."""
    index = SearchIndex(settings.search_index_path)
    try:
        index.set_state(REBUILD, str(time.time()))
        click.echo("the running indexer is rebuilding the index...", err=True)
        while index.state(REBUILD) is not None:
            time.sleep(WAIT_EVERY)
        return index.counts()
    finally:
        index.close()


@main.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True)
@click.option("--tool", default=None, help="Only threads of this tool.")
@click.option("--user", "user_id", default=None, help="Only the threads this user owns.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="The results as GET /v1/search gives them.")
def search_command(
    query: tuple[str, ...], tenant: str, tool: str | None, user_id: str | None, limit: int,
    as_json: bool,
) -> None:  # fmt: skip
    """Find turns by what they say: words, "phrases" and prefix* (all must match)."""
    settings = load_settings()
    limit = min(limit, settings.limits.max_search_results)
    filters = Filters(tool=tool, user_id=None if user_id is None else check_id(user_id, "user"))

    async def work(runtime: Runtime) -> Any:
        service = SearchService(settings, runtime.redis)
        return await service.search(tenant, " ".join(query), filters, limit, None)

    page = run(settings, work)
    hits = [wire_hit(h) for h in page.hits]
    if as_json:
        body = SearchResults(results=hits, next=page.next)
        click.echo(json.dumps(_plain(body), ensure_ascii=False, indent=2))
        return
    for hit in hits:
        where = f"{hit.thread_id}#{hit.seq}"
        click.echo(f"{where:<32} {hit.role:<9} {hit.score:>7.2f}  {hit.title or ''}")
        click.echo(f"    {_bold(hit.snippet, hit.highlights)}")
    click.echo(f"{len(hits)} hit(s) of tenant {tenant}", err=True)
    if not hits:
        raise SystemExit(EXIT_FAILED)


def _bold(text: str, spans: list[list[int]]) -> str:
    out, at = [], 0
    for start, end in spans:
        out += [text[at:start], click.style(text[start:end], bold=True)]
        at = end
    return "".join([*out, text[at:]])


def _plain(body: SearchResults) -> Any:
    return msgspec.to_builtins(body)
