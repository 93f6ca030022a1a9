"""Section `search`: the full-text index, its engine, its lag and what the feed costs.

- engines: SQLite FTS5 (the one shipped) beside tantivy (PyPI; measured only when it is
  installed: it is no dependency) on the same synthetic turns: index rate, query p50/p95
  (two words, tenant-scoped, with snippets), bytes per turn on disk.
- index: search p95 over `search_turns` turns in `search_threads` threads of 100
  tenants. The index is built directly (SearchIndex.apply), not through Redis: going
  through Redis and the feed would only take longer to reach the same file.
- lag: `threadkeeper indexer` as a subprocess while turns are appended at `search_rate`
  per second; the index lag (age of the oldest feed event not applied, as /v1/health
  reports it) sampled every 100 ms. Then the index's bytes per turn beside Redis's.
- feed: appends with the change feed on and off, each repetition both (their order
  alternating from one repetition to the next): in
  process (ThreadService) and over HTTP (two API servers on the same Redis).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import Row, Run, Target, median, percentile
from context import Bench
from http_api import HttpKit
from servers import api_server

from threadkeeper import keys
from threadkeeper.search import Filters, SearchService
from threadkeeper.search.index import (
    IndexedThread,
    IndexReader,
    SearchIndex,
    ThreadChange,
    TurnText,
)
from threadkeeper.search.query import parse_query
from threadkeeper.settings import Settings

TENANTS = 100
TURNS_PER_THREAD = 10
WORDS_PER_TURN = 60  # about 400 bytes of text, as the other sections' turns
VOCABULARY = 30_000
BATCH_THREADS = 1000
SAMPLE_EVERY = 0.1
LAG_THREADS = 50
IN_FLIGHT = 32  # appends outstanding at most: a slow machine falls behind the rate instead
PARTS = ("engines", "index", "lag", "feed")  # BENCH_SEARCH_PARTS=lag,feed runs some
FEED_CLIENTS = (1, 32)


def _at_most(bound: float, text: str) -> Target:
    return Target(bound, at_most=True, absolute=True, text=text)


def _vocabulary() -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(VOCABULARY)
    ]


class Corpus:
    """Zipf-distributed words, as in prose: a few very common, most rare. Texts come from
    a pool made once (drawing each word costs more than indexing it)."""

    POOL = 20_000

    def __init__(self, seed: int = 11) -> None:
        self.words = _vocabulary()
        self.rng = random.Random(seed)
        cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(VOCABULARY)))
        pick = self.rng.choices
        self.pool = [" ".join(pick(self.words, cum_weights=cumulative, k=WORDS_PER_TURN))
                     for _ in range(self.POOL)]  # fmt: skip

    def text(self) -> str:
        return self.pool[self.rng.randrange(self.POOL)]

    def query(self) -> str:
        """Two words of the middle of the distribution: what a person remembers."""
        low, high = 200, 5000
        return " ".join(self.rng.choice(self.words[low:high]) for _ in range(2))


def threads(corpus: Corpus, count: int, start: int = 0) -> Iterator[tuple[str, str, list[str]]]:
    for n in range(start, start + count):
        yield f"t{n % TENANTS}", f"th{n}", [corpus.text() for _ in range(TURNS_PER_THREAD)]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- engines --------------------------------------------------------------------


def build_fts5(path: Path, corpus: Corpus, count: int) -> float:
    """Index `count` threads; seconds taken."""
    index = SearchIndex(path)
    began = time.perf_counter()
    batch: list[ThreadChange] = []
    for tenant, thread_id, texts in threads(corpus, count):
        row = IndexedThread(tenant, thread_id, 1, 1, len(texts), None, None, None, 1)
        turns = [TurnText(i + 1, "user", t) for i, t in enumerate(texts)]
        batch.append(ThreadChange(tenant, thread_id, row, turns))
        if len(batch) >= BATCH_THREADS:
            index.apply(batch)
            batch = []
    index.apply(batch)
    index.set_state("built", "bench")
    seconds = time.perf_counter() - began
    index.optimize()
    index.close()
    return seconds


def query_fts5(path: Path, corpus: Corpus, queries: int) -> list[float]:
    reader = IndexReader(path)
    times = []
    for _ in range(queries):
        match = parse_query(corpus.query(), 256, 16).match
        tenant = f"t{corpus.rng.randrange(TENANTS)}"
        began = time.perf_counter()
        reader.search(tenant, match, Filters(), 21, 0)
        times.append(time.perf_counter() - began)
    return times


def build_tantivy(path: Path, corpus: Corpus, count: int) -> float | None:
    try:
        import tantivy  # type: ignore[import-not-found]
    except ImportError:
        return None
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("tenant", stored=True, tokenizer_name="raw")
    builder.add_text_field("thread", stored=True, tokenizer_name="raw")
    builder.add_integer_field("seq", stored=True)
    builder.add_text_field("body", stored=True)
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(builder.build(), path=str(path))
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    began = time.perf_counter()
    for tenant, thread_id, texts in threads(corpus, count):
        for i, text in enumerate(texts):
            writer.add_document(tantivy.Document(tenant=tenant, thread=thread_id, seq=i + 1,
                                                 body=text))  # fmt: skip
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - began


def query_tantivy(path: Path, corpus: Corpus, queries: int) -> list[float]:
    import tantivy

    index = tantivy.Index.open(str(path))
    index.reload()
    searcher = index.searcher()
    times = []
    for _ in range(queries):
        words = corpus.query().split()
        tenant = f"t{corpus.rng.randrange(TENANTS)}"
        text = f'+tenant:"{tenant}" ' + " ".join(f"+body:{w}" for w in words)
        began = time.perf_counter()
        query = index.parse_query(text, ["body"])
        hits = searcher.search(query, 21).hits
        snippets = tantivy.SnippetGenerator.create(searcher, query, index.schema, "body")
        for _, address in hits:
            snippets.snippet_from_doc(searcher.doc(address)).to_html()
        times.append(time.perf_counter() - began)
    return times


def engines(b: Bench, tmp: Path) -> None:
    s = b.sizes
    count = s.search_engine_turns // TURNS_PER_THREAD
    turns = count * TURNS_PER_THREAD
    fts = tmp / "engine-fts5.sqlite3"
    seconds = build_fts5(fts, Corpus(), count)
    times = query_fts5(fts, Corpus(5), s.search_queries)
    _engine_rows(b, "SQLite FTS5", turns, seconds, times, _size(fts))
    tv = tmp / "engine-tantivy"
    seconds_tv = build_tantivy(tv, Corpus(), count)
    if seconds_tv is None:
        print("  (tantivy not installed: `pip install tantivy` to compare)", flush=True)
        return
    times_tv = query_tantivy(tv, Corpus(5), s.search_queries)
    _engine_rows(b, "tantivy", turns, seconds_tv, times_tv, _size(tv))


def _engine_rows(
    b: Bench, engine: str, turns: int, seconds: float, times: list[float], size: int
) -> None:
    name = f"{engine}, {turns:,} turns"
    b.add(
        Row("search", f"{name}: index rate", turns / seconds, "turns/s"),
        Row("search", f"{name}: query p50", percentile(times, 50) * 1000, "ms"),
        Row("search", f"{name}: query p95", percentile(times, 95) * 1000, "ms"),
        Row("search", f"{name}: bytes/turn on disk", size / turns, "B"),
    )


def large_index(b: Bench, tmp: Path) -> None:
    s = b.sizes
    path = tmp / "large.sqlite3"
    seconds = build_fts5(path, Corpus(3), s.search_threads)
    turns = s.search_threads * TURNS_PER_THREAD
    times = query_fts5(path, Corpus(9), s.search_queries)
    name = f"{turns:,} turns, {s.search_threads:,} threads"
    b.add(
        Row("search", f"{name}: built directly", turns / seconds, "turns/s"),
        Row("search", f"{name}: search p50", percentile(times, 50) * 1000, "ms"),
        Row("search", f"{name}: search p95", percentile(times, 95) * 1000, "ms",
            target=_at_most(50, "<= 50 ms")),
        Row("search", f"{name}: bytes/turn on disk", _size(path) / turns, "B"),
    )  # fmt: skip


# -- index lag --------------------------------------------------------------------


def start_indexer(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    env |= {"THREADKEEPER_REDIS_URL": settings.redis_url or "", "THREADKEEPER_ARCHIVE_URL": "",
            "THREADKEEPER_HOME": str(settings.home),
            "THREADKEEPER_SEARCH_SWEEP_INTERVAL": "never"}  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "threadkeeper", "indexer"], env=env,
                                stdout=out, stderr=out, start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(30)


async def lag(b: Bench, tmp: Path) -> None:
    s = b.sizes
    home = tmp / "lag-home"
    settings = Settings(redis_url=b.server.url, archive_url="", home=home)
    status = SearchService(settings, b.redis)
    process = start_indexer(settings, tmp / "indexer.log")
    try:
        while not (await status.status()).built:
            await asyncio.sleep(0.1)
        ids = [await b.kit.create(f"lag-{n}") for n in range(LAG_THREADS)]
        samples: list[float] = []
        done = asyncio.Event()
        sampler = asyncio.create_task(_sample(status, samples, done))
        sent, seconds = await _paced(b, ids, s.search_rate, s.search_lag_seconds)
        done.set()
        await sampler
        while (await status.status()).waiting:
            await asyncio.sleep(0.1)
    finally:
        stop(process)
    b.add(
        Row("search", f"appends during the lag run ({s.search_rate} turns/s asked)",
            sent / seconds, "turns/s"),
        Row("search", "index lag p50", percentile(samples, 50), "s"),
        Row("search", "index lag p95", percentile(samples, 95), "s",
            target=_at_most(2.0, "<= 2 s")),
        Row("search", "index lag max", max(samples, default=0.0), "s"),
    )  # fmt: skip
    await _bytes_per_turn(b, settings, ids)


async def _sample(status: SearchService, samples: list[float], done: asyncio.Event) -> None:
    while not done.is_set():
        found = await status.status()
        samples.append(found.lag_seconds or 0.0)
        await asyncio.sleep(SAMPLE_EVERY)


async def _paced(b: Bench, ids: list[str], rate: int, seconds: float) -> tuple[int, float]:
    """One-turn appends at `rate` per second over `seconds`, round robin over the threads."""
    from inproc import valid_turns

    from threadkeeper.wire.shapes import NewTurns

    new = NewTurns(turns=valid_turns(0, 1))
    total = int(rate * seconds)
    began = time.perf_counter()
    room = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with room:
            await b.kit.append(ids[n % len(ids)], new)

    pending: set[asyncio.Task[Any]] = set()
    for n in range(total):
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await room.acquire()  # never more than IN_FLIGHT outstanding
        room.release()
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return total, time.perf_counter() - began


async def _bytes_per_turn(b: Bench, settings: Settings, ids: list[str]) -> None:
    index = SearchIndex(settings.search_index_path)
    try:
        index.optimize()
        _, turns = index.counts()
    finally:
        index.close()
    redis_bytes = 0
    for thread_id in ids:
        k = keys.thread_keys("default", thread_id)
        redis_bytes += await b.redis.memory_usage(k.turns, samples=0) or 0
    counted = sum([await b.redis.xlen(keys.thread_keys("default", i).turns) for i in ids])
    size = _size(settings.search_index_path)
    b.add(
        Row("search", "index bytes/turn (the lag run's turns, on disk)", size / max(turns, 1), "B"),
        Row("search", "Redis bytes/turn (the same turns' streams)", redis_bytes / max(counted, 1),
            "B"),
    )  # fmt: skip


# -- what the feed costs an append ------------------------------------------------


async def feed_cost(b: Bench, tmp: Path) -> None:
    s = b.sizes
    store = b.kit.runtime.store
    for clients in FEED_CLIENTS:
        runs: dict[bool, list[Run]] = {True: [], False: []}
        n = s.throughput_appends // (3 if clients == 1 else 1)
        usec: dict[bool, list[float]] = {True: [], False: []}
        for rep in range(s.reps):
            for on in _order(rep):
                store.index_writes.feed = on
                tag = f"feed{int(on)}-{clients}-{rep}"
                before = await _script_usec(b)
                runs[on].append(await b.kit.throughput(clients, n, s.throughput_seconds, tag))
                usec[on].append(_per_call(before, await _script_usec(b)))
        store.index_writes.feed = True
        _cost_row(b, f"in-process append, {clients} clients", runs)
        b.add(*[
            Row("search", f"Redis CPU per append script, {clients} clients, feed {word}",
                median(usec[on]), "us", extra={"per_rep": [round(u, 1) for u in usec[on]]})
            for on, word in ((True, "on"), (False, "off"))
        ])  # fmt: skip
    await _http_feed_cost(b, tmp)


async def _script_usec(b: Bench) -> tuple[int, int]:
    """(calls, usec) of EVALSHA so far (INFO commandstats): Redis's own CPU for scripts."""
    stats = await b.redis.info("commandstats")
    found = stats.get("cmdstat_evalsha", {})
    return int(found.get("calls", 0)), int(found.get("usec", 0))


def _per_call(before: tuple[int, int], after: tuple[int, int]) -> float:
    calls = after[0] - before[0]
    return (after[1] - before[1]) / calls if calls else 0.0


async def _http_feed_cost(b: Bench, tmp: Path) -> None:
    s = b.sizes
    with ExitStack() as stack:
        on = stack.enter_context(api_server(tmp / "api-feed-on", b.server.url))
        no_feed = {"THREADKEEPER_SEARCH_FEED": "off"}
        off = stack.enter_context(api_server(tmp / "api-feed-off", b.server.url, extra_env=no_feed))
        runs: dict[bool, list[Run]] = {True: [], False: []}
        for rep in range(s.reps):
            for feed in _order(rep):
                api = on if feed else off
                kit = HttpKit(api.host, api.port, 32)
                tag = f"hfeed{int(feed)}-{rep}"
                runs[feed].append(await kit.throughput(s.http_requests, s.throughput_seconds, tag))
                await kit.close()
        _cost_row(b, "HTTP append, 32 clients", runs)


def _order(rep: int) -> tuple[bool, bool]:
    """Feed on first in even repetitions, off first in odd ones: neither gains from going
    second (a warmer server, a quieter moment)."""
    return (True, False) if rep % 2 == 0 else (False, True)


def _cost_row(b: Bench, name: str, runs: dict[bool, list[Run]]) -> None:
    """The feed's cost: rate without / rate with, paired per repetition (1.0: free)."""
    costs = [off.rate / on.rate for on, off in zip(runs[True], runs[False], strict=True)]
    b.add(
        Row("search", f"{name}, feed on", median([r.rate for r in runs[True]]), "ops/s"),
        Row("search", f"{name}, feed off", median([r.rate for r in runs[False]]), "ops/s"),
        Row("search", f"{name}: cost with feed / without", median(costs), "x",
            target=_at_most(1.1, "<= 1.1x"), extra={"costs": [round(c, 3) for c in costs]}),
    )  # fmt: skip


async def search(b: Bench, tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"  load average at start {os.getloadavg()}", flush=True)
    parts = set((os.environ.get("BENCH_SEARCH_PARTS") or ",".join(PARTS)).split(","))
    if "engines" in parts:
        engines(b, tmp)
        shutil.rmtree(tmp / "engine-tantivy", ignore_errors=True)
    if "index" in parts:
        large_index(b, tmp)
    if "lag" in parts:
        await lag(b, tmp)
    if "feed" in parts:
        await feed_cost(b, tmp)
    print(f"  load average at end {os.getloadavg()}", flush=True)
