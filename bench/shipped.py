"""`threadkeeper up` as it ships, driven by wrk and the bench's lean client, beside its floors.

Each configuration (the default settings, and THREADKEEPER_API_PROCESSES=1 as
BENCHMARKS.md advises on two cores) is a fresh `up` with its own redis-server. In
every repetition the floor runs on that very Redis just before threadkeeper:
`redis-benchmark` XADD at the same concurrency for appends, and `redis-benchmark`
XRANGE of the very stream threadkeeper wrote for reads. The lean client's rows add
latency per connection: p50/p99 and the spread (slowest connection's median over the
fastest's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from common import (
    TENANT,
    Row,
    Run,
    absolute_at_most,
    at_least,
    content,
    drive,
    median,
    median_run,
    turn,
)
from context import RB, Bench, latency_rows, runs_row
from floor import redis_benchmark, redis_command
from http_api import HttpKit
from load import wrk, wrk_appends
from servers import UpServer, up_server

from threadkeeper import keys

CONFIGS: dict[str, dict[str, str]] = {
    "up": {},
    "up, 1 process": {"THREADKEEPER_API_PROCESSES": "1"},
}
CLIENTS = (1, 8, 32)
SHORT, FULL = 20, 1000  # turns of the two threads read
FILL = 100  # turns per append while filling the long thread


async def shipped(b: Bench, tmp: Path) -> None:
    for n, (label, env) in enumerate(CONFIGS.items()):
        with up_server(tmp / f"up-{n}", env=env) as up:
            await _measure(b, label, up)


async def _measure(b: Bench, label: str, up: UpServer) -> None:
    redis_port = urlparse(up.redis_url).port or 6379
    base = f"http://{up.host}:{up.port}"
    await _fill(up)
    rates: dict[str, list[Run]] = {}
    for c in CLIENTS:
        rates |= await _appends(b, label, up, redis_port, c)
        rates |= await _reads(b, label, up, redis_port, c, "short", SHORT)
        await _reads(b, label, up, redis_port, c, "full", FULL)
    b.add(
        runs_row(label, "20-turn read vs keyed append, 32 conns (wrk)", rates["short", 32],
                 rates["append", 32], floor_name="keyed append, wrk, same run",
                 target=at_least(1.0, "a read costs no more than an append"))
    )  # fmt: skip
    print(f"  ({label}: API {base}, redis {up.redis_url})", flush=True)


async def _fill(up: UpServer) -> None:
    kit = HttpKit(up.host, up.port, 1)
    await kit.create("short", [turn(i) for i in range(SHORT)])
    await kit.create("full", [turn(i) for i in range(FILL)])
    for start in range(FILL, FULL, FILL):
        await kit.append("full", [turn(i) for i in range(start, start + FILL)])
    for c in range(max(CLIENTS)):
        await kit.create(f"lean-{c}")
    await kit.close()


async def _appends(b: Bench, label: str, up: UpServer, port: int, c: int) -> dict[Any, list[Run]]:
    s = b.sizes
    base = f"http://{up.host}:{up.port}"
    floor, by_wrk, lean = [], [], []
    for rep in range(s.reps):
        floor.append(redis_benchmark(port, c, s.redis_benchmark_requests // 4, content(0)))
        run = f"w{c}-{rep}-{label.replace(' ', '').replace(',', '')}"
        await _create(up, run, c)
        by_wrk.append(wrk_appends(base, c, s.throughput_seconds, run, c))
        lean.append(await _lean(b, up, c, lambda kit, k: kit.append(f"lean-{k}", [turn(0)], k)))
    target = at_least(0.2, ">= 0.2x redis-benchmark XADD") if c == 32 else None
    name = f"keyed append, {c} conns"
    b.add(runs_row(label, f"{name} (wrk)", by_wrk, floor, floor_name=f"{RB}, same conns",
                   target=target))  # fmt: skip
    b.add(*latency_rows(label, f"{name} (wrk)", median_run(by_wrk)))
    _lean_rows(b, label, name, lean, floor)
    return {("append", c): by_wrk}


async def _lean(
    b: Bench, up: UpServer, c: int, op: Callable[[HttpKit, int], Awaitable[bytes]]
) -> Run:
    """The lean client on `c` connections, each calling op(kit, its number) in turn."""
    kit = HttpKit(up.host, up.port, c)
    try:
        return await drive(
            c, b.sizes.http_requests, b.sizes.throughput_seconds, lambda k, i: op(kit, k)
        )
    finally:
        await kit.close()


async def _create(up: UpServer, run: str, threads: int) -> None:
    kit = HttpKit(up.host, up.port, 1)
    for k in range(threads):
        await kit.create(f"{run}-{k}")
    await kit.close()


async def _reads(
    b: Bench, label: str, up: UpServer, port: int, c: int, thread: str, turns: int
) -> dict[Any, list[Run]]:
    s = b.sizes
    path = f"/v1/threads/{thread}?limit={turns}"
    stream = keys.thread_keys(TENANT, thread).turns
    floor, by_wrk, lean = [], [], []
    for _ in range(s.reps):
        requests = s.redis_benchmark_requests // (4 if turns == SHORT else 40)
        floor.append(redis_command(port, c, requests, "XRANGE", stream, "-", "+"))
        by_wrk.append(wrk(f"http://{up.host}:{up.port}{path}", c, s.throughput_seconds))
        lean.append(await _lean(b, up, c, lambda kit, k: kit.get(path, k)))
    name = f"read of {turns:,} turns, {c} conns"
    floor_name = f"redis-benchmark XRANGE of that stream, {c} conns"
    target = at_least(0.5, ">= 0.5x redis-benchmark XRANGE") if (turns, c) == (FULL, 8) else None
    b.add(runs_row(label, f"{name} (wrk)", by_wrk, floor, floor_name=floor_name,
                   target=target))  # fmt: skip
    b.add(*latency_rows(label, f"{name} (wrk)", median_run(by_wrk)))
    _lean_rows(b, label, name, lean, floor, latency_targets=(turns, c) == (SHORT, 1))
    return {(thread, c): by_wrk}


def _lean_rows(
    b: Bench, label: str, name: str, runs: list[Run], floor: list[Run],
    latency_targets: bool = False,
) -> None:  # fmt: skip
    """The lean client's rate, p50/p99 and the spread across its connections."""
    run = median_run(runs)
    b.add(runs_row(label, f"{name} (lean client)", runs, floor, floor_name="same floor"))
    p50, p99 = latency_rows(label, f"{name} (lean client)", run)
    if latency_targets:
        p50.target = absolute_at_most(2.0, "<= 2 ms")
        p99.target = absolute_at_most(10.0, "<= 10 ms")
    b.add(p50, p99)
    if len(run.by_client) > 1:
        medians = sorted(round(median(t) * 1000, 3) for t in run.by_client.values())
        even = absolute_at_most(2.0, "<= 2x")
        name = f"{name} (lean client) spread across conns"
        b.add(Row(label, name, run.spread, "x", target=even, extra={"medians_ms": medians}))
