"""Wiring: one place that builds the clients and services a process needs from Settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.asyncio import Redis

from threadkeeper import keys
from threadkeeper.archive import Archive, open_archive
from threadkeeper.service import ThreadService
from threadkeeper.settings import Settings
from threadkeeper.store import canary, masters
from threadkeeper.store.connection import async_client, redis_url, sync_client
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering import Tiering

log = logging.getLogger("threadkeeper")

CLOSE_TIMEOUT = 10.0


@dataclass(slots=True)
class Runtime:
    settings: Settings
    redis: Redis
    archive: Archive | None
    store: ThreadStore
    tiering: Tiering
    service: ThreadService

    async def close(self) -> None:
        """Close the clients, in bounded time: a process exits whatever Redis does."""
        for closing in (masters.close(self.redis), self.redis.aclose()):
            try:
                await asyncio.wait_for(closing, CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("a Redis client did not close within %.0f s", CLOSE_TIMEOUT)


def _remembered_by(settings: Settings) -> Callable[[str], bool] | None:
    """Whether the hot store remembers an archive holding snapshots (store.remember_archive)."""
    if not settings.redis_url:
        return None
    url = settings.redis_url

    def remembered(archive_url: str) -> bool:
        try:
            client = sync_client(url, socket_timeout=5)
            try:
                return bool(client.hexists(keys.ARCHIVES, archive_url))
            finally:
                client.close()
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot ask Redis whether %s held snapshots: %s", archive_url, exc)
            return False  # as before this record existed: a new archive's directory is made

    return remembered


def build_runtime(
    settings: Settings,
    *,
    redis: Redis | None = None,
    archive: Archive | None = None,
    restart_loss: canary.RestartLossProbe | None = None,
    counters: redis.Redis | None = None,
) -> Runtime:
    """`counters`: a worker's sync client, so its tiering counts reach the API's /metrics."""
    client = redis if redis is not None else async_client(redis_url(settings))
    if archive is None:
        archive = open_archive(settings.archive_url, _remembered_by(settings))
    store = ThreadStore(
        client, hot_ttl=settings.hot_ttl, cache_only=archive is None,
        list_scan=settings.limits.max_list_scan, indexed_metadata=settings.indexed_metadata,
        replica_acks=settings.replica_acks, replica_ack_timeout=settings.replica_ack_timeout,
        feed=settings.search_feed,
    )  # fmt: skip
    if restart_loss is None:
        restart_loss = canary.loss_probe(client)
    tiering = Tiering(store, archive, settings, counters=counters, restart_loss=restart_loss)
    service = ThreadService(store, tiering, settings, restart_loss)
    return Runtime(settings, client, archive, store, tiering, service)
