"""What every bench section shares: sizes, statistics, payloads and result rows."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

TENANT = "default"
TURN_BYTES = 400


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every count the bench uses; `--quick` shrinks them, BENCH_* env vars override them."""

    reps: int = 5  # repetitions of each throughput measurement (odd: a true median)
    cold_reps: int = 3  # repetitions of each archive measurement (the slow ones)
    throughput_appends: int = 6000  # appends per throughput run (all clients together)
    throughput_seconds: float = 6.0  # and at most this long
    http_requests: int = 3000  # requests per HTTP throughput run
    batch_turns: int = 100  # turns per batch append request
    batch_requests: int = 60
    growth_samples: int = 150  # appends measured at turn 10 and at turn 10,000
    growth_long_turns: int = 10_000
    lookup_sizes: tuple[int, ...] = (100, 1000, 10_000)
    lookup_reads: int = 15  # reads of each size (interleaved with the floor)
    memory_turns: int = 2000
    archive_threads: int = 400
    archive_turns: int = 20
    rehydrate_turns: int = 1000
    rehydrate_reads: int = 10
    redis_benchmark_requests: int = 50_000
    tenant_threads: int = 200_000  # threads of the large tenant (section tenant)
    tenant_setup_seconds: float = 300.0  # and at most this long to create them
    tenant_pages: int = 40  # pages read per configuration per repetition
    users_threads: int = 100_000  # threads of the one tenant of section users
    users_count: int = 1000  # users they are spread over
    search_engine_turns: int = 200_000  # turns each engine indexes (section search)
    search_turns: int = 1_000_000  # turns of the large index searched
    search_threads: int = 100_000  # threads they are in
    search_queries: int = 400  # queries timed per configuration
    search_lag_seconds: float = 20.0  # how long appends run at search_rate
    search_rate: int = 500  # turns/s appended while the index lag is sampled

    @classmethod
    def full(cls) -> Sizes:
        return cls()._from_env()

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            reps=1,
            cold_reps=1,
            throughput_appends=1500,
            throughput_seconds=2.0,
            http_requests=600,
            batch_requests=10,
            growth_samples=30,
            growth_long_turns=2000,
            lookup_sizes=(100, 1000),
            lookup_reads=5,
            memory_turns=500,
            archive_threads=100,
            rehydrate_turns=200,
            rehydrate_reads=3,
            redis_benchmark_requests=10_000,
            tenant_threads=3000,
            tenant_setup_seconds=60.0,
            tenant_pages=10,
            users_threads=5000,
            users_count=50,
            search_engine_turns=20_000,
            search_turns=50_000,
            search_threads=5_000,
            search_queries=100,
            search_lag_seconds=5.0,
        )._from_env()

    def _from_env(self) -> Sizes:
        """BENCH_<FIELD>=value overrides a field (BENCH_LOOKUP_SIZES=100,1000)."""
        changes: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            raw = os.environ.get(f"BENCH_{name.upper()}")
            if raw is None:
                continue
            current = getattr(self, name)
            if isinstance(current, tuple):
                changes[name] = tuple(int(v) for v in raw.split(","))
            else:
                changes[name] = type(current)(raw)
        return Sizes(**{**asdict(self), **changes})


# -- statistics ---------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass(slots=True)
class Run:
    """One throughput run: how many operations in how long, and each one's latency (s)."""

    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    reported_ms: tuple[float, float] | None = None  # (p50, p99) a C tool reported itself
    by_client: dict[int, list[float]] = field(default_factory=dict)  # latencies per connection

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        if self.reported_ms is not None:
            return self.reported_ms[0]
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        if self.reported_ms is not None:
            return self.reported_ms[1]
        return percentile(self.latencies, 99) * 1000

    @property
    def spread(self) -> float:
        """The slowest connection's median latency over the fastest's (1 = even)."""
        medians = [median(times) for times in self.by_client.values() if times]
        return max(medians) / min(medians) if medians and min(medians) > 0 else 0.0


def median_run(runs: list[Run]) -> Run:
    """The run with the median rate (lower middle for an even count): its latencies."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]


async def drive(
    clients: int, total: int, seconds: float, op: Callable[[int, int], Awaitable[Any]]
) -> Run:
    """`clients` tasks call op(client, i) until `total` calls are done or `seconds` pass."""
    latencies: list[float] = []
    by_client: dict[int, list[float]] = {c: [] for c in range(clients)}
    counter = iter(range(total))
    deadline = time.perf_counter() + seconds

    async def worker(client: int) -> None:
        for i in counter:
            began = time.perf_counter()
            await op(client, i)
            latencies.append(time.perf_counter() - began)
            by_client[client].append(latencies[-1])
            if began > deadline:
                return

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(clients)))
    return Run(len(latencies), time.perf_counter() - started, latencies, by_client=by_client)


async def timed(op: Callable[..., Awaitable[Any]], *args: Any) -> float:
    began = time.perf_counter()
    await op(*args)
    return time.perf_counter() - began


# -- payloads -----------------------------------------------------------------


def content(i: int, size: int = TURN_BYTES) -> str:
    """`size` bytes of chat-like ASCII text, different for each i (compresses like prose)."""
    words = ("the", "thread", "turn", "model", "answer", "cache", "redis", "user", "tool", "ok")
    text = f"{i}: " + " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(size // 3))
    return text[:size]


def turn(i: int, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": content(i)}


# -- results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """`value/floor` (or `value` itself when absolute) must stay on the right side of bound."""

    bound: float
    at_most: bool  # True: ≤ bound; False: ≥ bound
    absolute: bool = False  # compare the value itself, not the ratio
    text: str = ""

    def met(self, value: float, ratio: float | None) -> bool | None:
        measured = value if self.absolute else ratio
        if measured is None:
            return None
        return measured <= self.bound if self.at_most else measured >= self.bound


@dataclass(slots=True)
class Row:
    section: str
    name: str
    value: float
    unit: str
    floor: float | None = None
    floor_name: str = ""
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    paired: float | None = None  # median of per-repetition ratios, when measured in pairs

    @property
    def ratio(self) -> float | None:
        if self.paired is not None:
            return self.paired
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "floor": None if self.floor is None else round(self.floor, 4),
            "floor_name": self.floor_name,
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "target": None if self.target is None else self.target.text,
            "met": self.met,
            "note": self.note,
            **self.extra,
        }


def at_most(bound: float, text: str) -> Target:
    return Target(bound, at_most=True, text=text)


def at_least(bound: float, text: str) -> Target:
    return Target(bound, at_most=False, text=text)


def absolute_at_most(bound: float, text: str) -> Target:
    return Target(bound, at_most=True, absolute=True, text=text)


def absolute_at_least(bound: float, text: str) -> Target:
    return Target(bound, at_most=False, absolute=True, text=text)
