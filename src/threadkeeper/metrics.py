"""Prometheus metrics: the counters every layer records into, by one function each.

Snapshots and archive failures mostly happen in worker processes, which serve no
/metrics: a worker passes its (sync) Redis client to `record_snapshot` /
`record_archive_failure`, which count into the hash WORKER_COUNTERS; the API's
/metrics adds those to its own. Gauges (threads, sweeper lag) are read from Redis
at scrape time by `refresh` and held by `ScrapeGauges`, not per process.

Several API processes (`up` with THREADKEEPER_API_PROCESSES above 1, `serve
--workers N`) count in prometheus_client's multiprocess mode: each process keeps
its counters in files under PROMETHEUS_MULTIPROC_DIR and /metrics, from whichever
process answers, sums the files of all of them. A process whose environment
names the directory counts there from its start; `up`, which decides after this
module is imported, switches with `use_multiprocess`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.settings import Settings
from threadkeeper.store.indexes import Indexes

# Counters from worker processes (hash: "<family>:<label>" -> count).
WORKER_COUNTERS = keys.WORKER_COUNTERS
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Counters:
    """This process's counters and histogram, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "threadkeeper_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.http_seconds = Histogram(
            "threadkeeper_http_request_seconds", "HTTP request latency by route and method",
            ["route", "method"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.appended_turns = Counter(
            "threadkeeper_appended_turns", "Turns appended", registry=registry
        )
        self.lookups = Counter(
            "threadkeeper_lookups", "Thread reads by the tier that served them", ["source"],
            registry=registry,
        )  # fmt: skip
        self.rehydrations = Counter(
            "threadkeeper_rehydrations", "Rehydrations by outcome", ["outcome"], registry=registry
        )
        self.touch_skipped = Counter(
            "threadkeeper_touch_skipped",
            "Reads served without refreshing the thread's hot TTL, because Redis refused the "
            "write (at maxmemory)",
            registry=registry,
        )
        registry.register(SHARED)
        registry.register(GAUGES)
        # Each request's labelled children, found once: labels() costs half of a record.
        self._by_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def for_request(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The request counter's and latency histogram's children for these labels."""
        key = (route, method, status)
        found = self._by_request.get(key)
        if found is None:
            found = self._by_request[key] = (
                self.http_requests.labels(route, method, str(status)),
                self.http_seconds.labels(route, method),
            )
        return found


class SharedCounters(Collector):
    """Counters recorded in any process: this process's own plus what workers put in Redis."""

    FAMILIES = {
        "snapshots": ("threadkeeper_snapshots", "Snapshot attempts by outcome", "outcome"),
        "archive_failures": (
            "threadkeeper_archive_failures", "Archive operations that failed", "operation",
        ),
    }  # fmt: skip

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local: dict[tuple[str, str], float] = {}
        self.shared: dict[tuple[str, str], float] = {}

    def inc(self, family: str, label: str, amount: float = 1) -> None:
        with self._lock:
            self.local[family, label] = self.local.get((family, label), 0) + amount

    def load(self, raw: dict[Any, Any]) -> None:
        """Take the worker counters as read from WORKER_COUNTERS."""
        shared: dict[tuple[str, str], float] = {}
        for field, value in raw.items():
            family, _, label = as_text(field).partition(":")
            if family in self.FAMILIES and label:
                shared[family, label] = float(value)
        with self._lock:
            self.shared = shared

    def value(self, family: str, label: str) -> float:
        with self._lock:
            return self.local.get((family, label), 0) + self.shared.get((family, label), 0)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            labels = set(self.local) | set(self.shared)
        for family, (name, doc, label_name) in self.FAMILIES.items():
            metric = CounterMetricFamily(name, doc, labels=[label_name])
            for fam, label in sorted(labels):
                if fam == family:
                    metric.add_metric([label], self.value(family, label))
            yield metric


class ScrapeGauges(Collector):
    """The gauges `refresh` reads from Redis: the same in every process, so none per pid."""

    def __init__(self) -> None:
        self._read: tuple[float, float, float, float] | None = None  # hot, archived, dirty, lag
        self._users: dict[tuple[str, str], int] = {}
        self._search_lag: float | None = None

    def set_search_lag(self, seconds: float | None) -> None:
        """The search index's lag (search/service.py); NaN when it is not built."""
        self._search_lag = float("nan") if seconds is None else seconds

    def set(self, hot: float, archived: float, dirty: float, lag: float) -> None:
        self._read = (hot, archived, dirty, lag)

    def set_users(self, counts: dict[tuple[str, str], int]) -> None:
        """Threads per (tenant, user), for THREADKEEPER_METRICS_USERS only (bounded)."""
        self._users = counts

    def collect(self) -> Iterator[Metric]:
        threads = GaugeMetricFamily(
            "threadkeeper_threads",
            "Threads Redis knows, by tier: hot (touched within the hot TTL) or archived (older)",
            labels=["tier"],
        )
        dirty = GaugeMetricFamily(
            "threadkeeper_dirty_threads", "Threads changed since their last snapshot"
        )
        lag = GaugeMetricFamily(
            "threadkeeper_sweeper_lag_seconds",
            "Age of the oldest change not yet snapshotted, as the sweeper last measured it",
        )
        if self._read is not None:
            hot, archived, dirty_count, lag_s = self._read
            threads.add_metric(["hot"], hot)
            threads.add_metric(["archived"], archived)
            dirty.add_metric([], dirty_count)
            lag.add_metric([], lag_s)
        yield from (threads, dirty, lag)
        if self._users:
            users = GaugeMetricFamily(
                "threadkeeper_user_threads",
                "Threads each user owns, for the users THREADKEEPER_METRICS_USERS names",
                labels=["tenant", "user"],
            )
            for (tenant, user), count in self._users.items():
                users.add_metric([tenant, user], count)
            yield users
        if self._search_lag is not None:
            search = GaugeMetricFamily(
                "threadkeeper_search_lag_seconds",
                "Age of the oldest change the search index has not applied (0: up to date)",
            )
            search.add_metric([], self._search_lag)
            yield search


SHARED = SharedCounters()
GAUGES = ScrapeGauges()
_counters = _Counters()


def use_multiprocess(directory: Path) -> None:
    """Count in `directory` from now on, summed with the other processes counting there.

    prometheus_client picks its value store when it is imported, from the
    environment; a process that learns of the directory later (`up`) sets the
    variable, takes the multiprocess store and rebuilds its counters on it, before
    anything was counted.
    """
    global _counters
    os.environ[MULTIPROC_ENV] = str(directory)
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _counters = _Counters()


def _scrape_registry() -> CollectorRegistry:
    """This process's registry, or, with several processes, one summing all their files."""
    if not os.environ.get(MULTIPROC_ENV):
        return _counters.registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(SHARED)
    registry.register(GAUGES)
    return registry


def record_append(turns: int) -> None:
    _counters.appended_turns.inc(turns)


def record_lookup(source: str) -> None:
    _counters.lookups.labels(source).inc()


def record_touch_skipped() -> None:
    _counters.touch_skipped.inc()


def record_rehydration(outcome: str) -> None:
    _counters.rehydrations.labels(outcome).inc()


def _record_shared(family: str, label: str, conn: redis.Redis | None) -> None:
    if conn is None:
        SHARED.inc(family, label)
    else:
        conn.hincrby(WORKER_COUNTERS, f"{family}:{label}", 1)


def record_snapshot(outcome: str, conn: redis.Redis | None = None) -> None:
    """Count a snapshot attempt; a worker passes its Redis client so /metrics sees it."""
    _record_shared("snapshots", outcome, conn)


def record_archive_failure(operation: str, conn: redis.Redis | None = None) -> None:
    """Count a failed archive operation; a worker passes its Redis client, as above."""
    _record_shared("archive_failures", operation, conn)


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    requests, latency = _counters.for_request(route, method, status)
    requests.inc()
    latency.observe(seconds)


async def refresh(client: Redis, settings: Settings) -> None:
    """Read the scrape-time values from Redis: a handful of O(log n) commands."""
    now = int(time.time() * 1000)
    hot_ttl = settings.hot_ttl
    cutoff = "-inf" if hot_ttl is None else now - int(hot_ttl * 1000)
    total, hot, dirty = await Indexes(client).counts(cutoff)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.SWEEPER_HEARTBEAT)
        pipe.hgetall(WORKER_COUNTERS)
        heartbeat, counters = await pipe.execute()
    beat = {as_text(k): as_text(v) for k, v in heartbeat.items()}
    lag = sweeper_lag_s(beat)
    GAUGES.set(hot, total - hot, dirty, float("nan") if lag is None else lag)
    SHARED.load(counters)
    if settings.metrics_users:
        GAUGES.set_users(await Indexes(client).user_counts(settings.metrics_users))


def sweeper_lag_s(heartbeat: dict[str, str]) -> float | None:
    """The sweeper's lag as it last measured it (age of the oldest unsnapshotted change).

    None when no sweep ever ran (no heartbeat).
    """
    if not heartbeat.get("last_run"):
        return None
    return int(heartbeat.get("lag_ms") or 0) / 1000


def exposition() -> bytes:
    return generate_latest(_scrape_registry())


def totals() -> tuple[float, float]:
    """(turns appended, threads read) since start, by every API process counting together."""
    registry = _scrape_registry()
    appended = registry.get_sample_value("threadkeeper_appended_turns_total") or 0.0
    reads = sum(
        registry.get_sample_value("threadkeeper_lookups_total", {"source": source}) or 0.0
        for source in ("hot", "archive")
    )
    return appended, reads


async def read_sweeper_lag(client: Redis) -> float | None:
    """The sweeper's lag as its heartbeat in Redis last recorded it (None: never swept)."""
    raw = await client.hgetall(keys.SWEEPER_HEARTBEAT)
    return sweeper_lag_s({as_text(k): as_text(v) for k, v in raw.items()})
