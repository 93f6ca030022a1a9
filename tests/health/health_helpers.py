"""Helpers for the health tests (a module of its own: `conftest` names collide across dirs)."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from rq import Queue, Worker
from starlette.testclient import TestClient

from threadkeeper import keys

MakeClient = Callable[..., TestClient]


def pretend_healthy_workers(url: str, queue: str = "threadkeeper") -> None:
    """One RQ worker registered (alive while its key lives) and a fresh sweeper heartbeat."""
    conn = redis.Redis.from_url(url)
    worker = Worker([Queue(queue, connection=conn)], connection=conn)
    worker.register_birth()
    now = int(time.time() * 1000)
    conn.hset(keys.SWEEPER_HEARTBEAT, mapping={"last_run": now, "lag_ms": 1500})
    conn.close()
