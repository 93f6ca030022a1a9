"""The bench's sections; each measures threadkeeper beside its floor in the same run."""

from __future__ import annotations

from collections import defaultdict

import memory
from common import (
    Row,
    Run,
    at_least,
    at_most,
    content,
    median,
    median_run,
    timed,
    turn,
)
from context import LUA, RB, XRANGE, Bench, latency_rows, runs_row
from floor import redis_benchmark
from http_api import HttpKit
from inproc import growth, growth_threads, valid_turns

from threadkeeper.wire.shapes import NewTurns

# -- floor and in-process appends ------------------------------------------------


async def appends(b: Bench, clients: tuple[int, ...] = (1, 8, 32)) -> dict[int, list[Run]]:
    """Floor (redis-benchmark, Lua) and in-process ThreadService, interleaved per repetition."""
    s = b.sizes
    bench_runs: dict[int, list[Run]] = {c: [] for c in clients}
    lua: dict[int, list[Run]] = {c: [] for c in (1, 32)}
    tk: dict[int, list[Run]] = {c: [] for c in (1, 32)}
    payload = content(0)
    for rep in range(s.reps):
        for c in clients:
            requests = s.redis_benchmark_requests // (4 if c == 1 else 1)
            bench_runs[c].append(redis_benchmark(b.server.port, c, requests, payload))
        for c in (1, 32):
            n = s.throughput_appends // (3 if c == 1 else 1)
            lua[c].append(await b.floor.throughput(c, n, s.throughput_seconds, f"lua{c}-{rep}"))
            tk[c].append(await b.kit.throughput(c, n, s.throughput_seconds, f"tk{c}-{rep}"))
    for c in clients:
        b.add(runs_row("floor", f"{RB}, {c} clients", bench_runs[c], None))
    for c in (1, 32):
        b.add(runs_row("floor", f"Lua append, {c} clients", lua[c], None))
    for c in (1, 32):
        target = at_least(0.5, ">= 50% of Lua floor")
        b.add(
            runs_row(
                "in-process", f"append, {c} clients", tk[c], lua[c], floor_name=LUA, target=target
            )
        )
        b.add(*latency_rows("in-process", f"append, {c} clients", median_run(tk[c])))
    batch = [
        await b.kit.throughput(
            1, s.batch_requests, s.throughput_seconds, f"tkb-{rep}", per_request=s.batch_turns
        )
        for rep in range(s.reps)
    ]
    name = f"batch append, {s.batch_turns} turns/call"
    b.add(runs_row("in-process", name, batch, lua[32], s.batch_turns, floor_name=f"{LUA}, 32"))
    return bench_runs


# -- HTTP appends ----------------------------------------------------------------


async def http_appends(b: Bench, host: str, port: int, floors: dict[int, list[Run]]) -> None:
    s = b.sizes
    for c in (1, 8, 32):
        runs = []
        for rep in range(s.reps):
            kit = HttpKit(host, port, c)
            total = s.http_requests // (3 if c == 1 else 1)
            runs.append(await kit.throughput(total, s.throughput_seconds, f"c{c}-{rep}"))
            await kit.close()
        target = at_least(0.2, ">= 20% of redis-benchmark") if c == 32 else None
        b.add(
            runs_row(
                "http",
                f"append, {c} clients",
                runs,
                floors.get(c),
                floor_name=f"{RB}, same clients",
                target=target,
            )
        )
        b.add(*latency_rows("http", f"append, {c} clients", median_run(runs)))
    runs = []
    for _ in range(s.reps):
        kit = HttpKit(host, port, 32)
        runs.append(await kit.ceiling(s.http_requests, s.throughput_seconds))
        await kit.close()
    b.add(
        runs_row(
            "http",
            "GET /healthz, 32 clients (server ceiling)",
            runs,
            floors.get(32),
            floor_name=f"{RB}, same clients",
        )
    )
    runs = []
    for rep in range(s.reps):
        kit = HttpKit(host, port, 1)
        runs.append(
            await kit.throughput(
                s.batch_requests, s.throughput_seconds, f"b-{rep}", per_request=s.batch_turns
            )
        )
        await kit.close()
    name = f"batch append, {s.batch_turns} turns/request"
    b.add(runs_row("http", name, runs, floors[32], s.batch_turns, floor_name=f"{RB}, 32"))


# -- growth ----------------------------------------------------------------------


async def append_growth(b: Bench, host: str, port: int) -> None:
    s = b.sizes
    threads = await growth_threads(b.kit, "inproc", s.growth_samples, s.growth_long_turns)
    new = NewTurns(turns=valid_turns(0, 1))
    early, late = await growth(threads, lambda t: b.kit.append(t, new))
    _growth_rows(b, "in-process", early, late)
    threads = await growth_threads(b.kit, "http", s.growth_samples, s.growth_long_turns)
    kit = HttpKit(host, port, 1)
    early, late = await growth(threads, lambda t: kit.append(t, [turn(0)]))
    await kit.close()
    _growth_rows(b, "http", early, late)


def _growth_rows(b: Bench, section: str, early: list[float], late: list[float]) -> None:
    n = b.sizes.growth_long_turns
    first = Row(section, "append p50 at turn 10", median(early) * 1000, "ms")
    last = Row(
        section,
        f"append p50 at turn {n:,}",
        median(late) * 1000,
        "ms",
        median(early) * 1000,
        "append p50 at turn 10",
        at_most(1.2, "<= 1.2x turn 10"),
    )
    b.add(first, last)


# -- lookups ---------------------------------------------------------------------


async def lookups(b: Bench, host: str, port: int, page: int) -> None:
    s = b.sizes
    http = HttpKit(host, port, 1)
    for size in s.lookup_sizes:
        thread_id = await b.kit.create(f"lookup-{size}", size)
        key = b.kit.stream_key(thread_id)
        floor, ours, over_http = [], [], []
        for _ in range(s.lookup_reads):
            floor.append(await timed(b.floor.xrange, key))
            ours.append(await timed(b.kit.read_all, thread_id, size))
            over_http.append(await timed(http.read_all, thread_id, page))
        fl = median(floor) * 1000
        b.add(
            Row("floor", f"XRANGE {size:,} turns", fl, "ms"),
            Row(
                "in-process",
                f"full read, {size:,} turns",
                median(ours) * 1000,
                "ms",
                fl,
                XRANGE,
                at_most(1.5, "<= 1.5x XRANGE"),
            ),
            Row(
                "http",
                f"full read, {size:,} turns (pages of {page})",
                median(over_http) * 1000,
                "ms",
                fl,
                XRANGE,
            ),
        )
    await _last_turns(b, http, f"lookup-{max(s.lookup_sizes)}", max(s.lookup_sizes))
    await http.close()


async def _last_turns(b: Bench, http: HttpKit, thread_id: str, size: int) -> None:
    key = b.kit.stream_key(thread_id)
    floor, ours, over_http = [], [], []
    for _ in range(b.sizes.lookup_reads * 4):
        floor.append(await timed(b.floor.xrevrange, key, 20))
        ours.append(await timed(b.kit.read_last, thread_id, 20))
        over_http.append(await timed(http.read_last, thread_id, 20))
    fl = median(floor) * 1000
    name = f"last 20 turns of {size:,}"
    b.add(
        Row("floor", f"XREVRANGE COUNT 20 of {size:,}", fl, "ms"),
        Row("in-process", name, median(ours) * 1000, "ms", fl, "XREVRANGE via redis-py"),
        Row("http", name, median(over_http) * 1000, "ms", fl, "XREVRANGE via redis-py"),
    )


# -- memory ----------------------------------------------------------------------


async def memory_per_turn(b: Bench) -> None:
    n = b.sizes.memory_turns
    floor = await memory.floor_bytes(b.floor, n) / n
    b.add(Row("floor", f"raw stream, {n:,} x 400 B", floor, "B/turn"))
    target = at_most(1.15, "<= 1.15x raw stream")
    for label, make in (
        ("batched, no Idempotency-Key", memory.batched_thread),
        ("1 turn/append, Idempotency-Key each", memory.keyed_thread),
    ):
        thread_id = await make(b.kit, n, "memory")
        parts = await memory.thread_bytes(b.kit, b.redis, thread_id)
        b.add(
            Row(
                "memory",
                f"thread, {label}",
                sum(parts.values()) / n,
                "B/turn",
                floor,
                "raw stream",
                target,
                extra={"bytes": parts},
            )
        )


# -- durability ------------------------------------------------------------------


async def durability(b: Bench, other: Bench) -> None:
    """`b` runs appendfsync always, `other` everysec: same workloads, interleaved."""
    s = b.sizes
    runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for rep in range(s.reps):
        for policy, bench in (("always", b), ("everysec", other)):
            n, secs = s.throughput_appends, s.throughput_seconds
            runs["rb", policy].append(
                redis_benchmark(bench.server.port, 32, s.redis_benchmark_requests, content(0))
            )
            runs["lua", policy].append(await bench.floor.throughput(32, n, secs, f"d{rep}"))
            runs["tk", policy].append(await bench.kit.throughput(32, n, secs, f"d{rep}"))
    for kind, label in (("rb", RB), ("lua", "Lua floor"), ("tk", "in-process")):
        b.add(
            runs_row("durability", f"{label}, 32 clients, everysec", runs[kind, "everysec"], None),
            runs_row(
                "durability",
                f"{label}, 32 clients, always",
                runs[kind, "always"],
                runs[kind, "everysec"],
                floor_name=f"{label} under everysec",
            ),
        )
