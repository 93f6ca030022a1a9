"""The cron: rq's CronScheduler, enqueueing each tick once through the JSON queue.

rq 3.0's `CronJob.enqueue` builds a plain `Queue`, which pickles and picks a random
id; `TickCronJob` is the same job enqueued through our JSON queue under an id
derived from the tick, and `Cron` is rq's `CronScheduler` building those.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import redis
from rq import Queue, cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from threadkeeper.errors import ConfigError
from threadkeeper.jobs.queue import FAILURE_TTL, RESULT_TTL
from threadkeeper.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


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
