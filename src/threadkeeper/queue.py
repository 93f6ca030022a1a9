"""RQ glue: the queue (JSON, ids only), enqueueing with unique ids and Retry, and the cron.

Every job is enqueued with an explicit id and `unique=True`, so the same work asked
twice (two cron processes on one tick, a retried sweep, a double-clicked
archive-now) is queued once. Jobs get rq's `Retry`: at least once, so every job
function is idempotent.

rq 3.0's `CronJob.enqueue` builds a plain `Queue`, which pickles and picks a random
id; `TickCronJob` is the same job enqueued through our JSON queue under an id
derived from the tick, and `Cron` is rq's `CronScheduler` building those.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from rq import Queue, Retry, cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from threadkeeper.connection import sync_client
from threadkeeper.errors import ConfigError
from threadkeeper.runtime import redis_url
from threadkeeper.settings import Settings

log = logging.getLogger(__name__)

JOBS = "threadkeeper.jobs"
RETRY_INTERVALS = [1, 5, 15, 60, 300]
RESULT_TTL = 600  # long enough that a duplicate id within a few ticks is still seen
FAILURE_TTL = 7 * 86400
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def job_retry() -> Retry:
    return Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)


def make_queue(settings: Settings, connection: redis.Redis | None = None) -> Queue:
    """The work queue, JSON-serialized, on `connection` (a new sync client if None)."""
    conn = connection if connection is not None else sync_client(redis_url(settings))
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


def make_worker(settings: Settings, connection: redis.Redis) -> SimpleWorker:
    """A worker on the queue: SimpleWorker, so jobs reuse this process's clients and loop.

    rq's forking Worker runs each job in a fresh child: about 3x the per-job overhead
    (68 vs 194 jobs/s measured) and no client reuse. What forking buys, surviving a
    job that crashes the interpreter, the supervisor gives too: it restarts the worker,
    and the abandoned job is retried by the next maintenance pass.
    """
    return SimpleWorker(
        [make_queue(settings, connection)],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=max(1, round(settings.worker_maintenance_interval)),
    )


PR_SET_PDEATHSIG = 1


def die_with_this_process() -> None:
    """Make every child forked from here on (rq's scheduler) get SIGTERM when we die.

    rq's scheduler runs in a forked child that never checks its parent: a worker
    killed with SIGKILL would leave it running, holding the scheduler lock. Linux
    only (prctl); elsewhere the orphan lingers as in plain rq.
    """
    parent = os.getpid()

    def in_child() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(after_in_child=in_child)


# -- cron ---------------------------------------------------------------------


def tick_job_id(name: str, interval: float, at: float) -> str:
    """The id of a cron job's run for the tick holding `at`: the same in every cron process."""
    return f"{_UNSAFE.sub('_', name)}-{int(at // interval)}"


class TickCronJob(CronJob):
    """rq's CronJob, enqueued as JSON under a per-tick id (rq's own pickles, random id)."""

    def enqueue(self, connection: redis.Redis) -> Job:
        assert self.func is not None and self.interval
        queue = Queue(self.queue_name, connection=connection, serializer=JSONSerializer)
        job_id = tick_job_id(self.name, self.interval, time.time())
        try:
            job = queue.enqueue(
                self.func, args=self.args, kwargs=self.kwargs, job_id=job_id, unique=True,
                **self.job_options,
            )  # fmt: skip
        except DuplicateJobError:
            log.info("cron tick %s was already enqueued by another cron process", job_id)
            return Job(job_id, connection=connection, serializer=JSONSerializer)
        self._record(job, connection)
        return job

    def _record(self, job: Job, connection: redis.Redis) -> None:
        """The history rq's own CronJob.enqueue keeps, for rq's cron monitoring."""
        with connection.pipeline() as pipe:
            pipe.zadd(self.job_history_key, {job.id: time.time()})
            pipe.zremrangebyrank(self.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
            pipe.expire(self.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
            cron_job_registry.add(self.name, pipe)
            pipe.execute()


class Cron(CronScheduler):
    """rq's CronScheduler (loop, heartbeat, registry, config files) making TickCronJobs."""

    def register(  # type: ignore[override]
        self,
        func: Callable[..., Any],
        queue_name: str,
        *,
        interval: int | None = None,
        **options: Any,
    ) -> CronJob:
        if not interval or options.get("cron"):
            raise ConfigError("threadkeeper's cron runs interval jobs only: pass interval=")
        job = TickCronJob(queue_name=queue_name, func=func, interval=interval, **options)
        self._cron_jobs.append(job)  # what CronScheduler.register does with its CronJob
        self.log.info("registered %s on %s every %s s", job.func_name, queue_name, interval)
        return job


def sweep_registration(settings: Settings) -> dict[str, Any]:
    """How the sweep is registered, with `rq.cron.register` or `Cron.register`."""
    interval = max(1, round(settings.sweep_interval))
    return {
        "queue_name": settings.queue_name,
        "interval": interval,
        "name": "threadkeeper-sweep",
        "job_timeout": int(settings.job_timeout),
        "result_ttl": RESULT_TTL,
        # A tick not run within a few intervals is stale: the next one does its work.
        "ttl": max(60, 3 * interval),
        "failure_ttl": FAILURE_TTL,
    }
