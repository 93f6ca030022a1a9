"""Section `tenant`: one very large tenant's listing and appends on a 3-master cluster.

A tenant's listing is INDEX_BUCKETS sorted sets, each under its own bucket hash tag
(keys.tenant_index), so they spread over the masters; a page merges them
(indexes.TenantListing) and then reads each listed thread's hash on its own master.
Beside a small tenant in the same cluster and run, this measures: how the large
tenant's listing entries and bytes spread over the masters; one page of `limit` 20 and
100 at the head, in the middle (a cursor) and at the tail, each page's latency, the
commands each master ran for it (INFO commandstats) and each master's CPU
(/proc/<pid>/stat); and appends to the tenant's threads, each master's CPU and commands
per append. The configurations alternate within each repetition; every server is
stopped by pid at the end.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster import CLIENTS, cluster_kit, cpu_seconds
from common import Row, drive, median, percentile
from context import Bench
from inproc import Kit, valid_turns

from redis_cluster import RedisCluster, start_cluster
from threadkeeper import keys
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.wire.shapes import NewThread, NewTurns

LIMITS = (20, 100)
POSITIONS = ("head", "middle", "tail")
SMALL = 100  # threads of the small tenant it is compared with
SETUP_CLIENTS = 64
LARGE, SMALL_TENANT = "large", "small"


class Probe:
    """Each master's CPU seconds (/proc) and commands run (INFO commandstats) so far."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.masters = cluster.masters()
        self.clients = [cluster.client(n) for n in self.masters]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def read(self) -> list[Reading]:
        return [_reading(n, c) for n, c in zip(self.masters, self.clients, strict=True)]


Counts = dict[str, tuple[int, int]]  # command -> (calls, usec)


@dataclass(frozen=True, slots=True)
class Reading:
    """One master's CPU seconds and its commands' counts, or the difference of two."""

    cpu: float = 0.0
    commands: Counts = field(default_factory=dict)

    def minus(self, other: Reading) -> Reading:
        return Reading(self.cpu - other.cpu, _combine(self.commands, other.commands, -1))

    def plus(self, other: Reading) -> Reading:
        return Reading(self.cpu + other.cpu, _combine(self.commands, other.commands, 1))

    @property
    def calls(self) -> int:
        return sum(calls for calls, _ in self.commands.values())


def _combine(a: Counts, b: Counts, sign: int) -> Counts:
    out = {}
    for name in a.keys() | b.keys():
        (ca, ua), (cb, ub) = a.get(name, (0, 0)), b.get(name, (0, 0))
        if ca + sign * cb:
            out[name] = (ca + sign * cb, ua + sign * ub)
    return out


def _reading(node: ManagedRedis, client: Any) -> Reading:
    """INFO commandstats, less INFO itself: the bench's own reads of it."""
    assert node.process is not None
    stats = client.info("commandstats")
    commands = {
        name.removeprefix("cmdstat_"): (int(s["calls"]), int(s["usec"]))
        for name, s in stats.items()
        if name != "cmdstat_info"
    }
    return Reading(cpu_seconds(node.process.pid), commands)


@dataclass
class Tally:
    """What one configuration cost, summed over its blocks: per master and per op."""

    ops: int = 0
    masters: list[Reading] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    async def block(self, probe: Probe, run: Callable[[], Awaitable[list[float]]]) -> None:
        before, began = probe.read(), time.perf_counter()
        latencies = await run()
        self.seconds += time.perf_counter() - began
        after = probe.read()
        deltas = [a.minus(b) for a, b in zip(after, before, strict=True)]
        sums = self.masters or [Reading() for _ in deltas]
        self.masters = [m.plus(d) for m, d in zip(sums, deltas, strict=True)]
        self.ops += len(latencies)
        self.latencies += latencies

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def per_op_cpu_us(self) -> list[float]:
        return [m.cpu * 1e6 / max(self.ops, 1) for m in self.masters]

    def per_op_calls(self) -> list[float]:
        return [m.calls / max(self.ops, 1) for m in self.masters]

    def by_command(self) -> dict[str, dict[str, float]]:
        """Per op, all masters together: calls and usec (command time alone) of each command."""
        total: dict[str, tuple[int, int]] = {}
        for m in self.masters:
            for name, (calls, usec) in m.commands.items():
                was = total.get(name, (0, 0))
                total[name] = (was[0] + calls, was[1] + usec)
        ops = max(self.ops, 1)
        return {
            n: {"calls": round(c / ops, 2), "usec": round(u / ops, 1)}
            for n, (c, u) in sorted(total.items())
        }

    def extra(self) -> dict[str, Any]:
        return {
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 3),
            "ops": self.ops,
            "commands_per_op_per_master": [round(c, 2) for c in self.per_op_calls()],
            "redis_cpu_us_per_op_per_master": [round(c, 1) for c in self.per_op_cpu_us()],
            "commands_per_op": self.by_command(),
            "rate": round(self.rate, 1),
        }


async def tenant(b: Bench, tmp: Path) -> None:
    """The large tenant beside the small one, pages and appends interleaved per repetition."""
    with start_cluster(tmp / "masters3", masters=3, appendfsync=None) as cluster:
        async with AsyncExitStack() as stack:
            kit = cluster_kit(cluster, b.server.url, tmp / "tk", stack)
            sizes = {
                LARGE: await _fill(kit, LARGE, b),
                SMALL_TENANT: await _fill(kit, SMALL_TENANT, b, SMALL),
            }
            probe = Probe(cluster)
            try:
                await _spread(b, kit, cluster, sizes[LARGE])
                await _pages(b, kit, probe, sizes)
                await _appends(b, kit, probe, sizes)
            finally:
                probe.close()


async def _fill(kit: Kit, tenant: str, b: Bench, count: int | None = None) -> int:
    """Create the tenant's threads (one turn each), 64 at a time, within the time bound."""
    wanted = count or b.sizes.tenant_threads
    new = [valid_turns(0, 1)]

    async def create(_: int, i: int) -> None:
        thread = NewThread(id=_id(i), title=f"thread {i}", tool="bench", turns=new[0])
        await kit.service.create(tenant, thread)

    run = await drive(SETUP_CLIENTS, wanted, b.sizes.tenant_setup_seconds, create)
    print(f"  tenant {tenant!r}: {run.ops} threads created in {run.seconds:.0f} s "
          f"({run.rate:.0f}/s)", flush=True)  # fmt: skip
    return run.ops


def _id(i: int) -> str:
    return f"t{i:09d}"


async def _spread(b: Bench, kit: Kit, cluster: RedisCluster, threads: int) -> None:
    """Listing entries and bytes of the large tenant on each master (MEMORY USAGE, exact)."""
    ports = [n.port for n in cluster.masters()]
    entries, size = [0] * len(ports), [0] * len(ports)
    for bucket in keys.BUCKETS:
        key = keys.tenant_index(LARGE, bucket)
        master = ports.index(kit.runtime.redis.get_node_from_key(key).port)
        entries[master] += await kit.runtime.redis.zcard(key)
        size[master] += await kit.runtime.redis.memory_usage(key, samples=0) or 0
    name = f"listing of a {threads:,}-thread tenant"
    for label, values, unit in (("entries", entries, ""), ("bytes", size, " B")):
        print(f"  {name}, {label} per master: {', '.join(f'{v:,}{unit}' for v in values)}")
        b.add(
            Row(
                "tenant",
                f"{name}: largest master's share of {label}",
                100 * max(values) / max(sum(values), 1),
                "%",
                note=", ".join(str(v) for v in values),
                extra={"per_master": values},
            )
        )


async def _cursor(kit: Kit, tenant: str, rank: int, limit: int) -> ThreadQuery:
    """The page after the `rank`-th entry of the listing (newest first), or the first page."""
    if rank <= 0:
        return ThreadQuery(limit=limit)
    rows: list[tuple[int, str]] = []
    for bucket in keys.BUCKETS:
        found = await kit.runtime.redis.zrange(
            keys.tenant_index(tenant, bucket), 0, -1, withscores=True
        )
        rows += [(int(score), m.decode()) for m, score in found]
    rows.sort(reverse=True)  # ids are all the same length: ZREVRANGE's order
    score, thread_id = rows[min(rank, len(rows)) - 1]
    return ThreadQuery(limit=limit, last_score=score, last_id=thread_id)


def _rank(position: str, threads: int, limit: int) -> int:
    return {"head": 0, "middle": threads // 2, "tail": threads - limit // 2}[position]


async def _pages(b: Bench, kit: Kit, probe: Probe, sizes: dict[str, int]) -> None:
    configs = [(t, p, lim) for t in sizes for p in POSITIONS for lim in LIMITS]
    pages = {c: await _cursor(kit, c[0], _rank(c[1], sizes[c[0]], c[2]), c[2]) for c in configs}
    tallies = {c: Tally() for c in configs}
    for _ in range(b.sizes.reps):
        for c in configs:
            await tallies[c].block(
                probe, lambda c=c: _read(kit, c[0], pages[c], b.sizes.tenant_pages)
            )
    for t, p, lim in configs:
        tally, small = tallies[(t, p, lim)], tallies[(SMALL_TENANT, p, lim)]
        _add(
            b,
            f"list {sizes[t]:,}-thread tenant, limit {lim}, {p}",
            tally,
            small if t == LARGE else None,
            "page",
        )


async def _read(kit: Kit, tenant: str, page: ThreadQuery, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        await kit.service.list(tenant, page)
        latencies.append(time.perf_counter() - began)
    return latencies


async def _appends(b: Bench, kit: Kit, probe: Probe, sizes: dict[str, int]) -> None:
    """32 clients appending to threads of the tenant picked at random, both tenants in turn."""
    tallies = {t: Tally() for t in sizes}
    s = b.sizes
    for rep in range(s.reps):
        for t, count in sizes.items():
            await tallies[t].block(probe, lambda t=t, n=count, r=rep: _append(kit, t, n, r, s))
    for t in sizes:
        small = tallies[SMALL_TENANT] if t == LARGE else None
        _add(
            b, f"append, {CLIENTS} clients, {sizes[t]:,}-thread tenant", tallies[t], small, "append"
        )


async def _append(kit: Kit, tenant: str, threads: int, seed: int, s: Any) -> list[float]:
    pick, new = random.Random(seed).randrange, NewTurns(turns=valid_turns(0, 1))

    async def op(_: int, __: int) -> None:
        await kit.service.append(tenant, _id(pick(threads)), new)

    run = await drive(CLIENTS, s.throughput_appends, s.throughput_seconds, op)
    return run.latencies


def _add(b: Bench, name: str, tally: Tally, small: Tally | None, per: str) -> None:
    floor_name = f"{SMALL}-thread tenant" if small else ""
    p50 = median(tally.latencies) * 1000
    floor = None if small is None else median(small.latencies) * 1000
    b.add(Row("tenant", f"{name}, p50", p50, "ms", floor, floor_name, extra=tally.extra()))
    if per == "append":
        floor = None if small is None else small.rate
        b.add(Row("tenant", name, tally.rate, "ops/s", floor, floor_name))
    calls = ", ".join(f"{c:.1f}" for c in tally.per_op_calls())
    cpu = ", ".join(f"{c:.0f}" for c in tally.per_op_cpu_us())
    commands = ", ".join(
        f"{n} {c['calls']:g} ({c['usec']:g} us)" for n, c in tally.by_command().items()
    )
    print(f"    per {per}: commands per master {calls}; Redis CPU per master {cpu} us; "
          f"by command, all masters: {commands}", flush=True)  # fmt: skip
