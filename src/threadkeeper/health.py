"""The restart-survival report: gather facts from Redis, the archive and RQ, then judge them.

Gathering does I/O and never raises: whatever it cannot learn becomes a fact
("Redis unreachable: ..."). Judging is pure: `judge(facts)` turns facts into a
status and warnings that each say what to do, so every rule is unit-testable.

    ok        nothing acknowledged is at risk beyond what the configuration promises
    degraded  works, but durability or freshness is weaker than it should be
    failing   writes are refused or data is being lost (eviction, AOF write errors)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError
from rq import Queue, Worker

from threadkeeper import canary, keys
from threadkeeper.archive import Archive
from threadkeeper.canary import RestartReport
from threadkeeper.connection import sync_client
from threadkeeper.errors import ConfigError, ThreadkeeperError
from threadkeeper.metrics import sweeper_lag_s
from threadkeeper.models import now_ms, rfc3339
from threadkeeper.settings import Settings
from threadkeeper.tokens import check_bind

log = logging.getLogger(__name__)

GATHER_TIMEOUT = 10.0
TARGET_VERSION = (7, 0)
WAITAOF_VERSION = (7, 2)
MEMORY_WARN_RATIO = 0.9
RUNBOOK = (
    "If redis-server will not start, read its log: a corrupt AOF stops it. Keep a copy of "
    "the data dir, then run `redis-check-aof --fix <dir>/appendonly/<name>.manifest` (it "
    "drops everything after the damage), or rebuild Redis from the archive with "
    "`threadkeeper recover`"
)


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
    sweep_interval: float = 10.0
    backup_interval: float = 300.0
    now: int = 0
    host: str = "127.0.0.1"
    auth_enabled: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    message: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    facts: Facts
    warnings: tuple[str, ...] = field(default_factory=tuple)

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
                "url": _redacted(f.redis_url),
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
                "sweeper_last_run": rfc3339(f.sweeper_last_run),
            },
            "warnings": list(self.warnings),
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


def _redacted(url: str | None) -> str | None:
    """A Redis URL without its password."""
    if url is None or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


# -- judging (pure) ------------------------------------------------------------------

Rule = Callable[[Facts], "Finding | None"]


def _failing(message: str) -> Finding:
    return Finding(Status.FAILING, message)


def _degraded(message: str) -> Finding:
    return Finding(Status.DEGRADED, message)


def _note(message: str) -> Finding:
    """A warning that does not lower the status."""
    return Finding(Status.OK, message)


def judge(facts: Facts) -> HealthReport:
    """The status is the worst finding; every finding becomes a warning."""
    rules = REDIS_RULES if facts.redis is not None else (_unreachable,)
    findings = [f for rule in (*rules, *OTHER_RULES) if (f := rule(facts)) is not None]
    status = max((f.status for f in findings), default=Status.OK)
    return HealthReport(status, facts, tuple(f.message for f in findings))


def _unreachable(facts: Facts) -> Finding:
    url = _redacted(facts.redis_url)
    return _failing(f"Redis ({url}) is unreachable: {facts.redis_error}. {RUNBOOK}")


def _aof_off(facts: Facts) -> Finding | None:
    r = facts.redis
    if r is None or r.aof:
        return None
    rdb = " RDB snapshots are off too: it loses everything." if r.rdb_saves is False else ""
    return _degraded(
        "AOF is off (appendonly no): a crash or restart of Redis loses every write since the "
        f"last RDB save ({r.changes_since_last_save} changes now).{rdb} Set `appendonly yes` "
        "(CONFIG SET appendonly yes, and in redis.conf; threadkeeper's redis.conf does)"
    )


def _fsync_no(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.aof or facts.redis.appendfsync != "no":
        return None
    return _degraded(
        "appendfsync is 'no': a crash of the machine loses whatever the OS had not yet written "
        "(typically up to 30 s of acknowledged turns). Set `appendfsync always` (or `everysec` "
        "for a 1 s window) with CONFIG SET and in redis.conf"
    )


def _aof_write(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_aof_write == "ok":
        return None
    return _failing(
        "Redis failed to write its AOF (aof_last_write_status: err): it refuses writes until "
        "it can. Check the disk under its dir (space, permissions, I/O errors) and its log"
    )


def _bgsave(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_bgsave == "ok":
        return None
    return _failing(
        "the last RDB save failed (rdb_last_bgsave_status: err): with "
        "stop-writes-on-bgsave-error Redis refuses writes. Check the disk and the Redis log"
    )


def _aof_rewrite(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_aof_rewrite == "ok":
        return None
    return _degraded(
        "the last AOF rewrite failed (aof_last_bgrewrite_status: err): the AOF keeps growing "
        "and restarts get slower. Check disk space and the Redis log"
    )


def _slow_fsync(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.aof_delayed_fsync:
        return None
    return _note(
        f"fsync of the AOF was late {facts.redis.aof_delayed_fsync} times (aof_delayed_fsync): "
        "the disk under Redis's dir cannot keep up; move it to faster storage"
    )


def _loading(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.loading:
        return None
    done = facts.redis.loading_percent
    return _degraded(f"Redis is loading its data ({done:.0f}% done): requests wait until it ends")


def _eviction(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.eviction_policy == "noeviction":
        return None
    return _failing(
        f"maxmemory-policy is {facts.redis.eviction_policy}: at maxmemory Redis silently "
        "deletes threads. Set `maxmemory-policy noeviction` (CONFIG SET and in redis.conf): a "
        "full Redis then refuses writes loudly instead"
    )


def _memory(facts: Facts) -> Finding | None:
    ratio = facts.redis.memory_used_ratio if facts.redis is not None else None
    if facts.redis is None or ratio is None or ratio < MEMORY_WARN_RATIO:
        return None
    limit = "maxmemory" if facts.redis.maxmemory else "the machine's memory"
    return _degraded(
        f"Redis uses {ratio:.0%} of {limit}: when full, appends fail with 507. Archive cold "
        "threads (`threadkeeper archive --cold`), lower THREADKEEPER_HOT_TTL, or raise maxmemory"
    )


def _old_redis(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.version_tuple >= TARGET_VERSION:
        return None
    return _degraded(
        f"Redis {facts.redis.version} is older than 7.0, which threadkeeper targets "
        "(multi-part AOF, script flags): upgrade Redis"
    )


def _no_waitaof(facts: Facts) -> Finding | None:
    r = facts.redis
    if r is None or r.version_tuple >= WAITAOF_VERSION or not r.aof:
        return None
    if r.appendfsync in ("always", "no", None):  # `no` has its own warning
        return None
    return _note(
        f"Redis {r.version} has no WAITAOF (7.2+), so with appendfsync {r.appendfsync} an "
        "acknowledged turn can be lost in a crash of the machine: use `appendfsync always`, "
        "or Redis 7.2+"
    )


def _restart_lost(facts: Facts) -> Finding | None:
    report = facts.restart
    if report is None or report.data_survived_last_restart is not False:
        return None
    return _note(
        f"Redis restarted at {rfc3339(report.last_restart_at)} WITHOUT its data (the canary was "
        "gone): every thread not yet in the archive was lost then. Keep persistence on "
        "(appendonly yes) so it cannot happen again"
    )


def _cache_only(facts: Facts) -> Finding | None:
    if facts.archive_url is not None:
        return None
    return _degraded(
        "cache-only mode (THREADKEEPER_ARCHIVE_URL is empty): a thread leaves Redis for good "
        "after THREADKEEPER_HOT_TTL idle. Set THREADKEEPER_ARCHIVE_URL (s3://bucket/prefix or "
        "file:///dir) to keep threads"
    )


def _archive_down(facts: Facts) -> Finding | None:
    if facts.archive_url is None or facts.archive_reachable is not False:
        return None
    return _degraded(
        f"the archive ({facts.archive_url}) is unreachable: {facts.archive_error}. Cold threads "
        "cannot be read and nothing is snapshotted until it is back"
    )


def _no_workers(facts: Facts) -> Finding | None:
    if facts.workers_alive != 0:
        return None
    return _degraded(
        f"no RQ worker is alive on queue {facts.queue!r}: nothing gets snapshotted and Redis "
        "memory grows. Start one with `threadkeeper worker` (or run `threadkeeper up`)"
    )


def _sweeper(facts: Facts) -> Finding | None:
    """The sweeper runs every sweep_interval; a change waits about backup_interval at most."""
    if facts.redis is None:
        return None
    if facts.sweeper_last_run is None:
        return _degraded(
            "the sweeper has never run here: dirty threads are not snapshotted. Start "
            "`threadkeeper cron` (or run `threadkeeper up`)"
        )
    grace = max(60.0, 6 * facts.sweep_interval)
    silent = (facts.now - facts.sweeper_last_run) / 1000
    if silent > grace:
        return _degraded(
            f"the sweeper last ran {silent:.0f} s ago (it should run every "
            f"{facts.sweep_interval:g} s): check that `threadkeeper cron` runs"
        )
    lag = facts.sweeper_lag_s or 0.0
    if lag <= facts.backup_interval + grace:
        return None
    return _degraded(
        f"the oldest change not yet in the archive is {lag:.0f} s old (backup interval "
        f"{facts.backup_interval:g} s): the workers cannot keep up or are failing; add "
        "workers and read their log"
    )


def _open_bind(facts: Facts) -> Finding | None:
    try:
        check_bind(facts.host, facts.auth_enabled)
    except ConfigError as exc:
        return _failing(exc.detail)
    return None


REDIS_RULES: tuple[Rule, ...] = (
    _aof_off, _fsync_no, _aof_write, _bgsave, _aof_rewrite, _slow_fsync, _loading,
    _eviction, _memory, _old_redis, _no_waitaof, _restart_lost,
)  # fmt: skip
OTHER_RULES: tuple[Rule, ...] = (_cache_only, _archive_down, _no_workers, _sweeper, _open_bind)


# -- gathering -------------------------------------------------------------------------


async def report(
    client: redis.asyncio.Redis, archive: Archive | None, settings: Settings
) -> HealthReport:
    """Gather and judge: the whole restart-survival report."""
    return judge(await gather(client, archive, settings))


async def gather(client: redis.asyncio.Redis, archive: Archive | None, settings: Settings) -> Facts:
    redis_part, archive_part = await asyncio.gather(
        _gather_redis(client, settings), _gather_archive(archive)
    )
    return Facts(
        redis_url=settings.redis_url,
        archive_url=archive.url if archive is not None else None,
        queue=settings.queue_name,
        sweep_interval=settings.sweep_interval,
        backup_interval=settings.backup_interval,
        now=now_ms(),
        host=settings.host,
        auth_enabled=settings.tokens_file is not None,
        **redis_part,
        **archive_part,
    )


async def _gather_archive(archive: Archive | None) -> dict[str, Any]:
    if archive is None:
        return {}
    try:
        await asyncio.wait_for(asyncio.to_thread(archive.ping), GATHER_TIMEOUT)
    except ThreadkeeperError as exc:
        return {"archive_reachable": False, "archive_error": exc.detail}
    except TimeoutError:
        return {"archive_reachable": False, "archive_error": f"no answer in {GATHER_TIMEOUT:.0f} s"}
    return {"archive_reachable": True}


async def _gather_redis(client: redis.asyncio.Redis, settings: Settings) -> dict[str, Any]:
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            facts = await redis_facts(client)
            beat = await _heartbeat(client)
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        return {"redis": None, "redis_error": _describe(exc)}
    if facts.loading:
        return {"redis": facts}
    return {
        "redis": facts,
        "restart": await _restart(client),
        "sweeper_last_run": int(beat["last_run"]) if beat.get("last_run") else None,
        "sweeper_lag_s": sweeper_lag_s(beat),
        "workers_alive": await _workers_alive(settings),
    }


async def _restart(client: redis.asyncio.Redis) -> RestartReport | None:
    """The canary's verdict; None if it cannot be armed (e.g. Redis full refuses the write)."""
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            return await canary.check(client)
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        log.warning("restart canary: %s", _describe(exc))
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ThreadkeeperError):
        return exc.detail
    if isinstance(exc, TimeoutError):
        return f"no answer within {GATHER_TIMEOUT:.0f} s"
    return f"{type(exc).__name__}: {exc}"


async def _heartbeat(client: redis.asyncio.Redis) -> dict[str, str]:
    raw = await client.hgetall(keys.SWEEPER_HEARTBEAT)
    return {_text(k): _text(v) for k, v in raw.items()}


async def redis_facts(client: redis.asyncio.Redis) -> RedisFacts:
    """INFO persistence, server and memory, plus the CONFIG INFO does not show."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.info("persistence")
        pipe.info("server")
        pipe.info("memory")
        pipe.config_get("appendfsync")
        pipe.config_get("save")
        persistence, server, memory, fsync, save = await pipe.execute(raise_on_error=False)
    for part in (persistence, server, memory):
        if isinstance(part, Exception):
            raise part
    fsync_value = None if isinstance(fsync, Exception) else fsync.get("appendfsync")
    saves = None if isinstance(save, Exception) else bool(str(save.get("save", "")).strip())
    return _facts(persistence | server | memory, fsync_value, saves)


def _facts(info: dict[str, Any], appendfsync: str | None, rdb_saves: bool | None) -> RedisFacts:
    last_save = int(info.get("rdb_last_save_time", 0))
    return RedisFacts(
        version=str(info.get("redis_version", "?")),
        loading=bool(int(info.get("loading", 0))),
        loading_percent=float(str(info.get("loading_loaded_perc", 0)).rstrip("%") or 0),
        aof=bool(int(info.get("aof_enabled", 0))),
        appendfsync=appendfsync,
        rdb_saves=rdb_saves,
        last_aof_write=str(info.get("aof_last_write_status", "ok")),
        last_aof_rewrite=str(info.get("aof_last_bgrewrite_status", "ok")),
        last_bgsave=str(info.get("rdb_last_bgsave_status", "ok")),
        aof_delayed_fsync=int(info.get("aof_delayed_fsync", 0)),
        changes_since_last_save=int(info.get("rdb_changes_since_last_save", 0)),
        last_save_at=last_save * 1000 if last_save else None,
        eviction_policy=str(info.get("maxmemory_policy", "noeviction")),
        maxmemory=int(info.get("maxmemory", 0)),
        used_memory=int(info.get("used_memory", 0)),
        total_system_memory=int(info.get("total_system_memory", 0)),
    )


async def _workers_alive(settings: Settings) -> int | None:
    """RQ workers registered on our queue whose heartbeat key still exists."""
    if not settings.redis_url:
        return None
    url = settings.redis_url

    def count() -> int:
        conn = sync_client(url)
        try:
            return len(Worker.all(queue=Queue(settings.queue_name, connection=conn)))
        finally:
            conn.close()

    try:
        return await asyncio.wait_for(asyncio.to_thread(count), GATHER_TIMEOUT)
    except (RedisError, TimeoutError, OSError) as exc:
        log.warning("could not count RQ workers: %s", exc)
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
