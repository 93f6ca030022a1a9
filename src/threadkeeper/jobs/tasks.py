"""RQ job functions: ids in, JSON out, idempotent, reusing this process's clients.

ThreadStore and Tiering are async and RQ is not, so each worker process keeps one
event loop and one Runtime (Redis pools, the archive client), built on the first job
and rebuilt after a fork; a job is `loop.run_until_complete(...)` on them. With rq's
SimpleWorker (see `threadkeeper worker`) that is one build per worker, not per job.

A job that fails raises, and rq's Retry runs it again later: every step here is
idempotent (archive re-puts identical bytes and repeats the compare-and-set;
retention re-checks idleness and finishes a half-done purge; a sweep retries the
archive purges that deletions still owe).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from threadkeeper import keys
from threadkeeper.jobs.queue import QueueDispatch, make_queue
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_connection, redis_url, sync_client
from threadkeeper.tiering.sweeper import run_batch
from threadkeeper.tiering.sweeper import sweep as sweep_once

T = TypeVar("T")


@dataclass(slots=True)
class _Process:
    pid: int
    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    sync: Any  # the hot store (a cluster client on a cluster): worker counters
    queue: redis.Redis


_current: _Process | None = None


def _process() -> _Process:
    """This process's loop and clients, built lazily (and again in a forked child)."""
    global _current
    if _current is None or _current.pid != os.getpid():
        _current = _build(Settings.from_env())
    return _current


def _build(settings: Settings) -> _Process:
    loop = asyncio.new_event_loop()
    sync = sync_client(redis_url(settings))
    runtime = build_runtime(settings, counters=sync)
    return _Process(os.getpid(), loop, runtime, sync, queue_connection(settings))


def close() -> None:
    """Release this process's clients and loop (tests; a worker just exits)."""
    global _current
    if _current is not None and _current.pid == os.getpid():
        _current.loop.run_until_complete(_current.runtime.close())
        _current.loop.close()
        _current.sync.close()
        _current.queue.close()
    _current = None


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    process = _process()
    return process.loop.run_until_complete(work(process.runtime))


# -- the jobs ---------------------------------------------------------------------


def archive_batch(members: list[str]) -> dict[str, str]:
    """Snapshot each thread (`tenant:id`) at its current version; outcome per thread."""
    return _run(lambda rt: run_batch(rt.tiering.archiver.archive_thread, members))


def retention_batch(members: list[str]) -> dict[str, str]:
    """Delete each thread still idle past the retention, from both tiers."""
    return _run(lambda rt: run_batch(rt.tiering.remover.apply_retention, members))


def rehydrate(member: str) -> dict[str, Any]:
    """Bring one thread's turns back from the archive; a corrupt snapshot fails the job."""
    k = keys.from_member(member)

    async def work(rt: Runtime) -> dict[str, Any]:
        outcome = await rt.tiering.restorer.rehydrate(k.tenant, k.thread_id)
        return {"status": outcome.status, "missing": outcome.missing}

    return _run(work)


def sweep() -> dict[str, Any]:
    """One sweeper pass, handing batches to the workers through the queue."""
    process = _process()
    settings = process.runtime.settings
    dispatch = QueueDispatch(make_queue(settings, process.queue), settings)
    report = _run(lambda rt: sweep_once(rt.store, settings, dispatch, tiering=rt.tiering))
    return {"due": report.due, "expired": report.expired, "batches": report.batches,
            "held_back": report.held_back, "lag_ms": report.lag_ms,
            "purged": report.purged, "purges_owed": report.purges_owed}  # fmt: skip
