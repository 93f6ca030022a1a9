"""Helpers for the health tests (a module of its own: `conftest` names collide across dirs)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rq import Queue, Worker
from starlette.testclient import TestClient

from threadkeeper import keys
from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_connection, sync_client

MakeClient = Callable[..., TestClient]


def pretend_healthy_workers(settings: Settings) -> None:
    """One RQ worker registered on RQ's Redis (alive while its key lives) and a fresh
    sweeper heartbeat in the hot store (on a cluster, two different Redis)."""
    with queue_connection(settings) as conn:
        worker = Worker([Queue(settings.queue_name, connection=conn)], connection=conn)
        worker.register_birth()
    now = int(time.time() * 1000)
    with sync_client(settings.redis_url or "") as hot:
        hot.hset(keys.SWEEPER_HEARTBEAT, mapping={"last_run": now, "lag_ms": 1500})
