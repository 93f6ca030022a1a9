"""Prometheus metrics: the counters every layer records into, by one function each.

Counters recorded in worker processes (snapshots, archive failures) also go to
Redis so the API's /metrics can show them; see `threadkeeper.api.health`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "threadkeeper_http_requests", "HTTP requests by route, method and status",
    ["route", "method", "status"], registry=REGISTRY,
)  # fmt: skip
HTTP_SECONDS = Histogram(
    "threadkeeper_http_request_seconds", "HTTP request latency by route and method",
    ["route", "method"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
APPENDED_TURNS = Counter(
    "threadkeeper_appended_turns", "Turns appended", registry=REGISTRY
)
LOOKUPS = Counter(
    "threadkeeper_lookups", "Thread reads by the tier that served them", ["source"],
    registry=REGISTRY,
)  # fmt: skip
REHYDRATIONS = Counter(
    "threadkeeper_rehydrations", "Rehydrations by outcome", ["outcome"], registry=REGISTRY
)
SNAPSHOTS = Counter(
    "threadkeeper_snapshots", "Snapshot attempts by outcome", ["outcome"], registry=REGISTRY
)
ARCHIVE_FAILURES = Counter(
    "threadkeeper_archive_failures", "Archive operations that failed", ["operation"],
    registry=REGISTRY,
)  # fmt: skip


def record_append(turns: int) -> None:
    APPENDED_TURNS.inc(turns)


def record_lookup(source: str) -> None:
    LOOKUPS.labels(source).inc()


def record_rehydration(outcome: str) -> None:
    REHYDRATIONS.labels(outcome).inc()


def record_snapshot(outcome: str) -> None:
    SNAPSHOTS.labels(outcome).inc()


def record_archive_failure(operation: str) -> None:
    ARCHIVE_FAILURES.labels(operation).inc()
