"""The RQ worker process: a SimpleWorker on the queue, and its scheduler child's leash."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

import redis
from redis.backoff import ExponentialWithJitterBackoff
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from threadkeeper.jobs.queue import make_queue
from threadkeeper.lifeline import parent_death_signal
from threadkeeper.settings import Settings

log = logging.getLogger(__name__)


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


def die_with_this_process() -> None:
    """Make every child forked from here on (rq's scheduler) get SIGTERM when we die.

    rq's scheduler runs in a forked child that never checks its parent: a worker
    killed with SIGKILL would leave it running, holding the scheduler lock. Linux
    only (prctl); elsewhere the orphan lingers as in plain rq.
    """
    in_child = parent_death_signal(signal.SIGTERM)
    if in_child is not None:
        os.register_at_fork(after_in_child=in_child)


def through_full_redis(start: Callable[[], object], what: str) -> None:
    """Run `start` (a worker's or the cron's loop), waiting out a Redis at maxmemory.

    rq registers, heartbeats and moves jobs with writes, and at maxmemory each one
    raises: a process that exits on it is restarted at once by its supervisor, a crash
    loop that helps nobody. This waits with a growing pause and starts again (`start`
    builds a new worker or scheduler each time), and says what to do meanwhile.
    """
    backoff = ExponentialWithJitterBackoff(base=1, cap=60)
    failures = 0
    while True:
        try:
            start()
            return
        except redis.exceptions.OutOfMemoryError as exc:
            failures += 1
            pause = backoff.compute(failures)
            log.error(
                "Redis is at maxmemory (%s): the %s cannot run; trying again in %.0f s. "
                "Free memory (delete threads, `threadkeeper archive --cold`) or raise Redis "
                "maxmemory", exc, what, pause,
            )  # fmt: skip
            time.sleep(pause)
