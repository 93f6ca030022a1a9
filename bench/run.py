"""`make bench`: threadkeeper measured beside the raw Redis floor, in one run, with targets.

    .venv/bin/python bench/run.py            # full run, a few minutes
    .venv/bin/python bench/run.py --quick    # smoke run, well under a minute
    BENCH_REPS=5 .venv/bin/python bench/run.py --only appends,http

Starts its own redis-servers (the project's redis.conf: AOF on, appendfsync always;
and one with everysec), SeaweedFS as S3, and `threadkeeper up` for the HTTP sections
(what ships; section `up` also drives it with wrk), all on loopback; prints one
table and writes bench/results.json. See BENCHMARKS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkpointers  # noqa: E402
import cluster  # noqa: E402
import cold  # noqa: E402
import continuation  # noqa: E402
import hiredis  # noqa: E402
import redis  # noqa: E402
import report  # noqa: E402
import sections  # noqa: E402
import shipped  # noqa: E402
import stacks  # noqa: E402
import tenant  # noqa: E402
import uvicorn  # noqa: E402
from common import Sizes  # noqa: E402
from context import Bench  # noqa: E402
from floor import LuaFloor  # noqa: E402
from inproc import Kit  # noqa: E402
from servers import managed_redis, redis_settings, seaweedfs, up_server  # noqa: E402

import search  # noqa: E402
import users  # noqa: E402
from threadkeeper.runtime import build_runtime  # noqa: E402
from threadkeeper.settings import Settings  # noqa: E402
from threadkeeper.store.connection import async_client  # noqa: E402

SECTIONS = (
    "appends", "http", "growth", "lookup", "continuation", "memory", "durability", "cold",
    "stacks", "cluster", "tenant", "users", "up", "langgraph", "search",
)  # fmt: skip
HTTP_PAGE = 1000  # THREADKEEPER_MAX_PAGE's default: a full read follows `next` cursors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.json")
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
    return args


def open_bench(sizes: Sizes, server: Any, tmp: Path, stack: AsyncExitStack) -> Bench:
    settings = Settings(redis_url=server.url, archive_url=(tmp / "archive").as_uri(), home=tmp)
    client = async_client(server.url)
    runtime = build_runtime(settings, redis=client)
    stack.push_async_callback(runtime.close)
    return Bench(sizes, server, client, Kit(runtime), LuaFloor(client))


async def measure(
    args: argparse.Namespace, sizes: Sizes, tmp: Path, meta: dict[str, Any]
) -> list[Any]:
    only = set(args.only.split(","))
    with ExitStack() as procs:
        always = procs.enter_context(managed_redis(tmp / "redis-always"))
        meta["redis"] = redis_settings(always.url)
        async with AsyncExitStack() as stack:
            b = open_bench(sizes, always, tmp, stack)
            floors: dict[int, Any] = {}
            if only & {"appends", "http"}:
                _section("floor and in-process appends")
                floors = await sections.appends(b)
            if only & {"http", "growth", "lookup", "continuation"}:
                # What ships: `up` and its API processes, on the bench's Redis.
                api = procs.enter_context(up_server(tmp / "api", always.url))
                meta["http"] = _uvicorn_impl()
            if "http" in only:
                _section("HTTP appends")
                await sections.http_appends(b, api.host, api.port, floors)
            if "growth" in only:
                _section("append cost growth")
                await sections.append_growth(b, api.host, api.port)
            if "lookup" in only:
                _section("lookups")
                await sections.lookups(b, api.host, api.port, HTTP_PAGE)
            if "continuation" in only:
                _section("the continuation path beside PAL (pal-mcp-server)")
                await continuation.continuation(b, api.host, api.port)
            if "memory" in only:
                _section("memory")
                await sections.memory_per_turn(b)
            if "durability" in only:
                _section("durability: appendfsync always vs everysec")
                everysec = procs.enter_context(
                    managed_redis(tmp / "redis-everysec", "--appendfsync", "everysec")
                )
                await sections.durability(b, open_bench(sizes, everysec, tmp, stack))
            if "cold" in only:
                _section("cold tier (SeaweedFS S3)")
                s3 = procs.enter_context(seaweedfs(tmp / "s3"))
                runtime = cold.s3_runtime(always.url, s3, tmp / "s3home")
                stack.push_async_callback(runtime.close)
                await cold.cold_tier(b, s3, Kit(runtime), tmp)
            if "users" in only:
                _section("one tenant's listing by user and by metadata")
                await users.users(b, tmp / "users")
            if "stacks" in only:
                _section("HTTP stacks: uvicorn vs granian, 1 vs N worker processes")
                await stacks.stacks(b, tmp / "stacks", always.url, os.cpu_count() or 1)
            await own_servers(only, b, tmp)
            return b.rows


async def own_servers(only: set[str], b: Bench, tmp: Path) -> None:
    """The sections that start their own servers: `up` with its Redis, Redis Clusters, and
    search (its indexer and API processes)."""
    if "up" in only:
        _section("threadkeeper up as it ships (wrk, lean client), floors on its Redis")
        await shipped.shipped(b, tmp / "up")
    if "langgraph" in only:
        _section("LangGraph checkpointers: threadkeeper (through up), InMemorySaver, PostgreSQL")
        with up_server(tmp / "api-langgraph", b.server.url) as api:
            await checkpointers.langgraph(b, api.host, api.port)
    if "cluster" in only:
        _section("Redis Cluster: 1 vs 3 masters (appendfsync always), 32 clients")
        await cluster.cluster(b, tmp / "cluster")
    if "tenant" in only:
        _section("a very large tenant's listing and appends on 3 masters")
        await tenant.tenant(b, tmp / "tenant")
    if "search" in only:
        _section("search: engine, index size, lag, what the feed costs")
        await search.search(b, tmp / "search")


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _uvicorn_impl() -> dict[str, str]:
    """What uvicorn's `auto` picks here: uvloop/httptools when installed, else asyncio/h11."""
    found = {}
    for name, fallback in (("uvloop", "asyncio"), ("httptools", "h11")):
        try:
            __import__(name)
            found[name] = name
        except ImportError:
            found[name] = fallback
    return {"loop": found["uvloop"], "http": found["httptools"], "access_log": "off"}


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_py": redis.__version__,
        "hiredis": hiredis.__version__,
        "uvicorn": uvicorn.__version__,
    }


def main() -> int:
    args = parse_args()
    sizes = Sizes.quick() if args.quick else Sizes.full()
    meta = machine() | {"sizes": asdict(sizes), "quick": args.quick}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tk-bench-") as tmp:
        rows = asyncio.run(measure(args, sizes, Path(tmp), meta))
    meta["load_avg_end"] = os.getloadavg()
    meta["seconds"] = round(time.perf_counter() - began, 1)
    print("\n" + report.table(rows))
    print("\n" + report.summary(rows))
    print(
        f"load average {meta['load_avg_start']} -> {meta['load_avg_end']} on {meta['cpus']} "
        f"cores; {meta['seconds']} s. Shared machine: compare ratios, not absolute figures."
    )
    report.write_json(args.out, rows, meta)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
