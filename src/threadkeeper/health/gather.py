"""Gathering, with I/O that never raises: whatever cannot be learnt becomes a fact."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError
from rq import Queue, Worker

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.auth import tokens_problem
from threadkeeper.codec import as_text
from threadkeeper.errors import ConfigError, ThreadkeeperError
from threadkeeper.health.children import read_states
from threadkeeper.health.report import (
    Facts,
    HealthReport,
    RedisFacts,
)
from threadkeeper.health.rules import combine, judge
from threadkeeper.metrics import sweeper_lag_s
from threadkeeper.models import now_ms
from threadkeeper.search import SearchService
from threadkeeper.settings import Settings
from threadkeeper.store import canary
from threadkeeper.store.canary import RestartReport
from threadkeeper.store.connection import queue_connection
from threadkeeper.store.masters import Master, is_cluster_client, masters

log = logging.getLogger(__name__)

GATHER_TIMEOUT = 10.0


async def report(client: Any, archive: Archive | None, settings: Settings) -> HealthReport:
    """Gather and judge: the whole restart-survival report (per master, on a cluster)."""
    facts = await gather(client, archive, settings)
    if not is_cluster_client(client):
        return judge(facts)
    each = []
    for master in await _masters_or_none(client):
        part = await _gather_master(master)
        each.append(judge(replace(facts, redis_url=f"redis://{master.address}", **part)))
    return combine(judge(facts), each)


async def _masters_or_none(client: Any) -> list[Master]:
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            return await masters(client)
    except (RedisError, TimeoutError, OSError) as exc:
        log.warning("could not list the cluster's masters: %s", _describe(exc))
        return []


async def _gather_master(master: Master) -> dict[str, Any]:
    """One master's durability, memory and restart canary."""
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            facts = await redis_facts(master.client)
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        return {"redis": None, "redis_error": _describe(exc), "restart": None}
    if facts.loading:
        return {"redis": facts, "restart": None}
    return {"redis": facts, "restart": await _restart(master.client, master.canary_key)}


async def gather(client: Any, archive: Archive | None, settings: Settings) -> Facts:
    redis_part, archive_part, search_part = await asyncio.gather(
        _gather_redis(client, settings), _gather_archive(archive), _gather_search(client, settings)
    )
    return Facts(
        redis_url=settings.redis_url,
        archive_url=archive.url if archive is not None else None,
        queue=settings.queue_name,
        sweep_interval=settings.sweep_interval,
        backup_interval=settings.backup_interval,
        now=now_ms(),
        host=settings.host,
        auth_enabled=settings.auth_configured,
        tokens_error=tokens_problem(settings),
        children=read_states(settings.home),
        **redis_part,
        **archive_part,
        **search_part,
    )


async def _gather_search(client: Any, settings: Settings) -> dict[str, Any]:
    """Whether the index is built and how far behind it is (search/service.py)."""
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            status = await SearchService(settings, client).status()
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        log.warning("search index status: %s", _describe(exc))
        return {}
    lag = None if status.lag_seconds is None else round(status.lag_seconds, 3)
    return {"search_built": status.built, "search_lag_s": lag}


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


async def _gather_redis(client: Any, settings: Settings) -> dict[str, Any]:
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            first = (await masters(client))[0]
            facts = await redis_facts(first.client)
            beat = await _heartbeat(client)
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        return {"redis": None, "redis_error": _describe(exc)}
    if facts.loading:
        return {"redis": facts}
    return {
        "redis": facts,
        "restart": await _restart(first.client, first.canary_key),
        "sweeper_last_run": int(beat["last_run"]) if beat.get("last_run") else None,
        "sweeper_lag_s": sweeper_lag_s(beat),
        "purges_owed": int(beat.get("purges_owed") or 0),
        "workers_alive": await _workers_alive(settings),
    }


async def _restart(client: redis.asyncio.Redis, key: str) -> RestartReport | None:
    """The canary's verdict; None if it cannot be armed (e.g. Redis full refuses the write)."""
    try:
        async with asyncio.timeout(GATHER_TIMEOUT):
            return await canary.check(client, key)
    except (RedisError, ThreadkeeperError, TimeoutError, OSError) as exc:
        log.warning("restart canary: %s", _describe(exc))
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ThreadkeeperError):
        return exc.detail
    if isinstance(exc, TimeoutError):
        return f"no answer within {GATHER_TIMEOUT:.0f} s"
    return f"{type(exc).__name__}: {exc}"


async def _heartbeat(client: Any) -> dict[str, str]:
    raw = await client.hgetall(keys.SWEEPER_HEARTBEAT)
    return {as_text(k): as_text(v) for k, v in raw.items()}


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

    def count() -> int:
        conn = queue_connection(settings)
        try:
            return len(Worker.all(queue=Queue(settings.queue_name, connection=conn)))
        finally:
            conn.close()

    try:
        return await asyncio.wait_for(asyncio.to_thread(count), GATHER_TIMEOUT)
    except (RedisError, TimeoutError, OSError, ConfigError) as exc:
        log.warning("could not count RQ workers: %s", exc)
        return None
