"""The report's records: facts gathered, findings, and the public form."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from threadkeeper.health.children import ChildState
from threadkeeper.models import rfc3339
from threadkeeper.store.canary import RestartReport


class Status(IntEnum):
    OK = 0
    DEGRADED = 1
    FAILING = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class RedisFacts:
    """What Redis says about itself (INFO persistence/server/memory, CONFIG GET)."""

    version: str
    loading: bool
    loading_percent: float
    aof: bool
    appendfsync: str | None  # None when CONFIG is disabled
    rdb_saves: bool | None  # any `save` points configured; None when unknown
    last_aof_write: str
    last_aof_rewrite: str
    last_bgsave: str
    aof_delayed_fsync: int
    changes_since_last_save: int
    last_save_at: int | None
    eviction_policy: str
    maxmemory: int
    used_memory: int
    total_system_memory: int

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".") if p.isdigit())

    @property
    def memory_used_ratio(self) -> float | None:
        limit = self.maxmemory or self.total_system_memory
        return round(self.used_memory / limit, 6) if limit else None

    @property
    def loss_window(self) -> str:
        """What a crash of the machine can lose, given the persistence settings."""
        if not self.aof:
            return "all-since-last-save"
        return {"always": "none", "everysec": "1s", "no": "30s"}.get(self.appendfsync or "", "1s")


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the report judges; None means "could not be learned"."""

    redis_url: str | None
    redis: RedisFacts | None
    redis_error: str | None = None
    restart: RestartReport | None = None
    archive_url: str | None = None
    archive_reachable: bool | None = None
    archive_error: str | None = None
    workers_alive: int | None = None
    queue: str = "threadkeeper"
    sweeper_lag_s: float | None = None
    sweeper_last_run: int | None = None
    purges_owed: int = 0
    sweep_interval: float = 10.0
    backup_interval: float = 300.0
    now: int = 0
    host: str = "127.0.0.1"
    auth_enabled: bool = False
    tokens_error: str | None = None  # why the tokens file does not read, if it does not
    children: tuple[ChildState, ...] = ()  # `up`'s worker, cron, API processes
    search_built: bool | None = None  # None: not asked (or not readable)
    search_lag_s: float | None = None  # age of the oldest change the index lacks


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    message: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    facts: Facts
    warnings: tuple[str, ...] = field(default_factory=tuple)
    masters: tuple[HealthReport, ...] = ()  # a cluster's, each judged alone

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def public(self) -> dict[str, Any]:
        """The report as GET /v1/health and `threadkeeper health --json` show it."""
        f = self.facts
        return {
            "status": self.status.label,
            "durability": _durability(f.redis),
            "redis": {
                "url": redacted(f.redis_url),
                "reachable": f.redis is not None,
                "version": f.redis.version if f.redis else None,
                "error": f.redis_error,
            },
            "restart": _restart_public(f.restart),
            "archive": {
                "url": f.archive_url,
                "reachable": f.archive_reachable,
                "error": f.archive_error,
            },
            "workers": {
                "alive": f.workers_alive,
                "queue": f.queue,
                "sweeper_lag_s": f.sweeper_lag_s,
                "purges_owed": f.purges_owed,
                "sweeper_last_run": rfc3339(f.sweeper_last_run),
            },
            "children": [child.public() for child in f.children],
            "search": {"built": f.search_built, "lag_seconds": f.search_lag_s},
            "warnings": list(self.warnings),
            "masters": [m.master_public() for m in self.masters],
        }

    def master_public(self) -> dict[str, Any]:
        """One cluster master's part of the report: its own durability and canary."""
        f = self.facts
        return {
            "url": redacted(f.redis_url),
            "status": self.status.label,
            "reachable": f.redis is not None,
            "error": f.redis_error,
            "durability": _durability(f.redis),
            "restart": _restart_public(f.restart),
        }


_DURABILITY_FIELDS = (
    "aof", "appendfsync", "loss_window", "last_aof_write", "last_aof_rewrite", "last_bgsave",
    "last_save_at", "changes_since_last_save", "aof_delayed_fsync", "loading",
    "eviction_policy", "maxmemory", "memory_used_ratio",
)  # fmt: skip


def _durability(r: RedisFacts | None) -> dict[str, Any]:
    if r is None:
        return dict.fromkeys(_DURABILITY_FIELDS)
    return {
        "aof": r.aof,
        "appendfsync": r.appendfsync,
        "loss_window": r.loss_window,
        "last_aof_write": r.last_aof_write,
        "last_aof_rewrite": r.last_aof_rewrite,
        "last_bgsave": r.last_bgsave,
        "last_save_at": rfc3339(r.last_save_at),
        "changes_since_last_save": r.changes_since_last_save,
        "aof_delayed_fsync": r.aof_delayed_fsync,
        "loading": r.loading,
        "eviction_policy": r.eviction_policy,
        "maxmemory": r.maxmemory,
        "memory_used_ratio": r.memory_used_ratio,
    }


def _restart_public(report: RestartReport | None) -> dict[str, Any]:
    if report is None:
        return {"redis_run_id": None, "last_restart_at": None, "data_survived_last_restart": None}
    return report.public()


def redacted(url: str | None) -> str | None:
    """A Redis URL without its password."""
    if url is None or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
