"""Section `users`: one tenant's listing filtered by owner and by metadata, beside the
unfiltered listing, on a standalone Redis.

100,000 threads of one tenant (BENCH_USERS_THREADS) spread over 1,000 users
(BENCH_USERS_COUNT), each with metadata {"project": one of 10, "env": one of 4,
"owner": its user}; `project` is indexed (THREADKEEPER_INDEXED_METADATA), `env` and
`owner` are not. Pages of limit 20 and 100, first page and a cursor in the middle of
each filter's own listing: the unfiltered listing, by user (its own index), by indexed
metadata (its own index), by user and metadata (the user's index, metadata judged),
and by metadata not indexed (a budgeted scan: THREADKEEPER_MAX_LIST_SCAN rows, then a
short page). Configurations alternate within each repetition; each row is the median
page latency, with the rows a page returned and the Redis commands it ran (INFO
commandstats), and the load average before and after. The server is stopped by pid.
"""

from __future__ import annotations

import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common import Row, drive, median, percentile
from context import Bench
from inproc import Kit, valid_turns
from servers import managed_redis

from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.wire.shapes import NewThread

TENANT = "acme"
LIMITS = (20, 100)
PROJECTS, ENVS = 10, 4
SETUP_CLIENTS = 64
SETUP_SECONDS = 600.0
USER = "u0007"


@dataclass(frozen=True)
class Filter:
    name: str
    user_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


FILTERS = (
    Filter("unfiltered"),
    Filter(f"user_id={USER}", user_id=USER),
    Filter("metadata.project=p3 (indexed)", metadata=(("project", "p3"),)),
    Filter(f"user_id={USER} & metadata.project=p7", user_id=USER, metadata=(("project", "p7"),)),
    Filter("metadata.env=e1 (not indexed, 1 in 4)", metadata=(("env", "e1"),)),
    Filter(f"metadata.owner={USER} (not indexed, 1 in 1000)", metadata=(("owner", USER),)),
)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)


def _user(i: int, users: int) -> str:
    return f"u{i % users:04d}"


async def users(b: Bench, tmp: Path) -> None:
    """Fill the tenant, then read pages of every filter, alternating, `reps` times."""
    load_before = os.getloadavg()
    with managed_redis(tmp / "redis", "--appendonly", "no", "--save", "") as server:
        async with AsyncExitStack() as stack:
            settings = Settings(redis_url=server.url, archive_url=(tmp / "archive").as_uri(),
                                home=tmp, indexed_metadata=("project",))  # fmt: skip
            runtime = build_runtime(settings, redis=async_client(server.url))
            stack.push_async_callback(runtime.close)
            kit = Kit(runtime)
            made = await _fill(kit, b.sizes.users_threads, b.sizes.users_count)
            await _pages(b, kit, server.url, made, load_before)


async def _fill(kit: Kit, threads: int, users: int) -> int:
    turns = valid_turns(0, 1)

    async def create(_: int, i: int) -> None:
        user = _user(i, users)
        metadata = {"project": f"p{i % PROJECTS}", "env": f"e{i % ENVS}", "owner": user}
        new = NewThread(id=f"t{i:09d}", title=f"thread {i}", tool="bench", turns=turns,
                        metadata=metadata, user_id=user)  # fmt: skip
        await kit.service.create(TENANT, new)

    run = await drive(SETUP_CLIENTS, threads, SETUP_SECONDS, create)
    print(f"  {run.ops:,} threads of {users:,} users created in {run.seconds:.0f} s "
          f"({run.rate:.0f}/s)", flush=True)  # fmt: skip
    return run.ops


def _page(f: Filter, limit: int) -> ThreadQuery:
    return ThreadQuery(limit=limit, user_id=f.user_id, metadata=f.metadata)


async def _middle(kit: Kit, f: Filter, limit: int) -> ThreadQuery:
    """The page of `f` after half of its matches (found by following its own cursors)."""
    first = _page(f, limit)
    ids, page, cursors = 0, replace(first, limit=1000), []
    while True:
        listed, cursor = await kit.service.list(TENANT, page)
        ids += len(listed)
        if cursor is None:
            break
        cursors.append((ids, cursor))
        page = ThreadQuery.decode(cursor, 1000)
    at = [c for n, c in cursors if n >= ids // 2]
    return ThreadQuery.decode(at[0], limit) if at else first


async def _pages(b: Bench, kit: Kit, url: str, threads: int, load_before: Any) -> None:
    configs = [(f, lim, pos) for f in FILTERS for lim in LIMITS for pos in ("first", "middle")]
    pages = {c: _page(c[0], c[1]) if c[2] == "first" else await _middle(kit, c[0], c[1])
             for c in configs}  # fmt: skip
    tallies = {c: Tally() for c in configs}
    counter = async_client(url)
    try:
        for _ in range(b.sizes.reps):
            for c in configs:
                await _read(kit, counter, pages[c], b.sizes.tenant_pages, tallies[c])
    finally:
        await counter.aclose()
    load_after = os.getloadavg()
    for f, lim, pos in configs:
        base = tallies[(FILTERS[0], lim, pos)]
        _add(b, f"{threads:,} threads / {b.sizes.users_count:,} users: {f.name}, limit {lim}, "
             f"{pos} page", tallies[(f, lim, pos)], base, load_before, load_after)  # fmt: skip


async def _read(kit: Kit, counter: Any, page: ThreadQuery, count: int, tally: Tally) -> None:
    before = await _calls(counter)
    for _ in range(count):
        began = time.perf_counter()
        listed, _ = await kit.service.list(TENANT, page)
        tally.latencies.append(time.perf_counter() - began)
        tally.rows.append(len(listed))
    tally.commands.append((await _calls(counter) - before - 1) // count)


async def _calls(client: Any) -> int:
    stats = await client.info("commandstats")
    return sum(int(s["calls"]) for name, s in stats.items() if name != "cmdstat_info")


def _add(b: Bench, name: str, t: Tally, base: Tally, before: Any, after: Any) -> None:
    value = median(t.latencies) * 1000
    floor = median(base.latencies) * 1000
    print(f"  {name}: {value:.2f} ms (unfiltered {floor:.2f} ms), {median(t.rows):.0f} rows, "
          f"{median(t.commands):.0f} commands", flush=True)  # fmt: skip
    b.add(Row(
        "users", name, value, "ms", floor=floor, floor_name="the unfiltered page",
        note=f"{median(t.rows):.0f} rows, {median(t.commands):.0f} Redis commands per page",
        extra={
            "p99_ms": round(percentile(t.latencies, 99) * 1000, 3),
            "rows": median(t.rows), "commands_per_page": median(t.commands),
            "load_avg_before": before, "load_avg_after": after,
        },
    ))  # fmt: skip
