"""The work queue: JSON-serialized (ids only), jobs enqueued with unique ids and Retry.

Every job is enqueued with an explicit id and `unique=True`, so the same work asked
twice (two cron processes on one tick, a retried sweep, a double-clicked
archive-now) is queued once. Jobs get rq's `Retry`: at least once, so every job
function is idempotent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_connection

log = logging.getLogger(__name__)

JOBS = "threadkeeper.jobs.tasks"
RETRY_INTERVALS = [1, 5, 15, 60, 300]
RESULT_TTL = 600  # long enough that a duplicate id within a few ticks is still seen
FAILURE_TTL = 7 * 86400


def job_retry() -> Retry:
    return Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)


def make_queue(settings: Settings, connection: redis.Redis | None = None) -> Queue:
    """The work queue, JSON-serialized, on `connection` (a new sync client if None)."""
    conn = connection if connection is not None else queue_connection(settings)
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)


def digest(*parts: object) -> str:
    """A short stable name for any values, safe in an rq job id."""
    raw = "\x1f".join(map(str, parts)).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def archive_job_id(member: str, version: int) -> str:
    """One archive-now job per thread version: asking twice queues it once."""
    return f"archive-{digest(member)}-v{version}"


def enqueue(queue: Queue, func: str, args: Sequence[Any], job_id: str, settings: Settings) -> bool:
    """Enqueue `func(*args)` under `job_id`; False if a job with that id already exists."""
    try:
        queue.enqueue(
            f"{JOBS}.{func}",
            args=tuple(args),
            job_id=job_id,
            unique=True,
            retry=job_retry(),
            job_timeout=int(settings.job_timeout),
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
        )
    except DuplicateJobError:
        log.debug("job %s is already queued or recently done", job_id)
        return False
    return True


def backlog(queue: Queue) -> int:
    """Jobs waiting to run: queued now, or scheduled (a retry waiting out its interval)."""
    return int(queue.count) + int(queue.scheduled_job_registry.count)


class QueueDispatch:
    """The sweeper's way to hand work to RQ workers (see `sweeper.Dispatch`)."""

    def __init__(self, queue: Queue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings

    async def backlog(self) -> int:
        return await asyncio.to_thread(backlog, self.queue)

    async def archive(self, batch_id: str, members: list[str]) -> None:
        await self._send("archive_batch", batch_id, members)

    async def retention(self, batch_id: str, members: list[str]) -> None:
        await self._send("retention_batch", batch_id, members)

    async def _send(self, func: str, batch_id: str, members: list[str]) -> None:
        job_id = f"{batch_id}-{digest(*members)}"
        await asyncio.to_thread(enqueue, self.queue, func, [members], job_id, self.settings)
