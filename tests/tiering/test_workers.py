"""The RQ side for real: JSON jobs with unique ids, the cron tick, worker processes, kill -9."""

from __future__ import annotations

import os
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from tiering_support import Backend, Proc, process_env, sync_redis, threadkeeper

from leaks import group_alive
from threadkeeper import keys
from threadkeeper.jobs import tasks as jobs
from threadkeeper.jobs.cron import Cron, sweep_registration
from threadkeeper.jobs.queue import enqueue, make_queue
from threadkeeper.jobs.worker import make_worker
from threadkeeper.models import Thread
from threadkeeper.settings import Settings
from waiting import wait_for

Spawn = Callable[..., Proc]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], local_backend: Backend) -> Settings:
    return make_settings(archive_url=local_backend.archive.url)


@pytest.fixture
def queue(settings: Settings) -> Iterator[Queue]:
    queue = make_queue(settings)
    yield queue
    queue.connection.close()


@pytest.fixture
def job_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Jobs run in this process read their settings from the environment, as a worker's do."""
    for name, value in process_env(settings).items():
        if name.startswith("THREADKEEPER_"):
            monkeypatch.setenv(name, value)
    yield
    jobs.close()


def create_dirty(settings: Settings, thread_id: str, n: int = 3) -> None:
    """A thread written straight into Redis the way the API leaves it: dirty, no TTL."""
    from threadkeeper.codec import encode_turn

    turns = [{"role": "user", "content": f"turn {i}"} for i in range(1, n + 1)]
    blobs = [encode_turn(t, 1) for t in turns]
    thread = Thread(
        id=thread_id, tenant="default", created_at=1, updated_at=1, title=None, tool=None,
        metadata={}, parent_id=None, fork_seq=None, turn_count=n,
        byte_count=sum(map(len, blobs)), version=1, archived_version=0, archived_at=None,
        dirty_since=1,
    )  # fmt: skip
    k = keys.thread_keys("default", thread_id)
    client = sync_redis(settings.redis_url or "")
    with client.pipeline() as pipe:
        pipe.hset(k.meta, mapping=thread.to_hash())
        for seq, blob in enumerate(blobs, start=1):
            pipe.xadd(k.turns, {"t": blob}, id=f"0-{seq}")
        pipe.zadd(k.dirty, {k.member: 1})
        pipe.zadd(k.activity, {k.member: 1})
        pipe.execute()
    client.close()


def thread_state(settings: Settings, thread_id: str) -> dict[str, int]:
    client = sync_redis(settings.redis_url or "")
    k = keys.thread_keys("default", thread_id)
    raw = client.hmget(k.meta, ["version", "archived_version", "turn_count"])
    state = {"version": int(raw[0]), "archived": int(raw[1]), "turns": int(raw[2]),
             "stream": int(client.xlen(k.turns)), "pttl": int(client.pttl(k.turns))}  # fmt: skip
    client.close()
    return state


def snapshots(backend: Backend, thread_id: str) -> list[str]:
    return backend.snapshots(thread_id)


# -- in-process --------------------------------------------------------------------


def test_two_cron_processes_on_one_tick_enqueue_one_json_sweep(
    settings: Settings, queue: Queue
) -> None:
    crons = [Cron(connection=queue.connection) for _ in range(2)]
    for cron in crons:
        cron.register(jobs.sweep, **sweep_registration(settings.with_overrides(
            sweep_interval=3600)))  # fmt: skip
    for cron in crons:  # both due at once, as two cron processes started together are
        cron.enqueue_jobs()
    [job_id] = queue.job_ids
    assert job_id.startswith("threadkeeper-sweep-")
    job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
    assert job.func_name == "threadkeeper.jobs.tasks.sweep"
    raw = queue.connection.hget(job.key, "data")
    assert raw is not None and zlib.decompress(raw).startswith(b'["threadkeeper.jobs.tasks.sweep"')


def test_a_worker_runs_the_sweep_and_its_batches(
    settings: Settings, queue: Queue, job_env: None, local_backend: Backend
) -> None:
    create_dirty(settings, "t1")
    create_dirty(settings, "t2")
    enqueue(queue, "sweep", [], "sweep-test", settings)

    make_worker(settings, queue.connection).work(burst=True)

    for thread_id in ("t1", "t2"):
        state = thread_state(settings, thread_id)
        assert state["archived"] == state["version"] == 1 and state["pttl"] > 0
        assert len(snapshots(local_backend, thread_id)) == 1
    beat = sync_redis(settings.redis_url or "").hgetall(keys.SWEEPER_HEARTBEAT)  # the hot store
    assert int(beat[b"lag_ms"]) > 0 and int(beat[b"last_run"]) > 0
    assert queue.finished_job_registry.count == 2  # the sweep and one batch


def test_a_failing_batch_is_retried_later_and_its_error_is_visible(
    settings: Settings,
    queue: Queue,
    job_env: None,
    local_backend: Backend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_dirty(settings, "t1")
    local_backend.cut()
    enqueue(queue, "archive_batch", [["default:t1"]], "archive-test", settings)

    make_worker(settings, queue.connection).work(burst=True)

    job = Job.fetch("archive-test", connection=queue.connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 4
    assert "ArchiveUnavailable: 1 of 1 threads failed" in caplog.text  # the worker's log
    assert thread_state(settings, "t1")["pttl"] == -1
    counters = sync_redis(settings.redis_url or "")  # the hot store
    assert counters.hget(keys.WORKER_COUNTERS, "archive_failures:put") == b"1"

    local_backend.restore()
    assert jobs.archive_batch(["default:t1"]) == {"default:t1": "archived"}  # idempotent re-run
    assert jobs.archive_batch(["default:t1"]) == {"default:t1": "clean"}


# -- real processes ----------------------------------------------------------------


def test_worker_and_cron_processes_archive_an_idle_thread(
    settings: Settings, spawn: Spawn, local_backend: Backend
) -> None:
    create_dirty(settings, "t1")
    env = process_env(settings, SNAPSHOT_IDLE="1s", SWEEP_INTERVAL="1s")
    worker = spawn(threadkeeper("worker"), env, "worker")
    cron = spawn(threadkeeper("cron"), env, "cron")

    wait_for(lambda: thread_state(settings, "t1")["archived"] == 1, "the thread to be archived",
             timeout=90, detail=worker.tail)  # fmt: skip
    assert len(snapshots(local_backend, "t1")) == 1
    assert thread_state(settings, "t1")["pttl"] > 0
    for proc in (worker, cron):  # a clean stop, the scheduler child included
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=30) is not None
        wait_for(lambda p=proc: not group_alive(p.popen.pid), "the group to exit", detail=proc.tail)


@pytest.mark.fault
def test_a_worker_killed_mid_snapshot_loses_nothing_and_the_job_reruns(
    settings: Settings, queue: Queue, spawn: Spawn, local_backend: Backend, tmp_path: Path
) -> None:
    create_dirty(settings, "t1")
    marker = tmp_path / "in-put"
    env = process_env(settings) | {"TK_TEST_MARKER": str(marker)}
    enqueue(queue, "archive_batch", [["default:t1"]], "archive-kill", settings)
    slow = spawn([sys.executable, str(Path(__file__).with_name("slow_worker.py"))], env, "slow")

    wait_for(marker.exists, "the worker to be inside put_if_absent", timeout=90, detail=slow.tail)
    os.kill(slow.popen.pid, signal.SIGKILL)
    slow.popen.wait(timeout=30)
    # rq's scheduler, a child of the worker, goes with it (it would hold the lock).
    wait_for(lambda: not group_alive(slow.popen.pid), "the scheduler child to exit", timeout=60,
             detail=slow.tail)  # fmt: skip

    # Killed after the object was written, before the compare-and-set.
    assert len(snapshots(local_backend, "t1")) == 1
    state = thread_state(settings, "t1")
    assert state["archived"] == 0 and state["pttl"] == -1 and state["stream"] == 3
    registry = StartedJobRegistry(queue=queue)
    assert "archive-kill" in registry.get_job_ids(cleanup=False)

    # Another worker's maintenance pass, as it runs once the dead job's heartbeat
    # (job timeout + 60 s) has lapsed; called here with that time already passed.
    registry.cleanup(timestamp=time.time() + settings.job_timeout + 120)
    job = Job.fetch("archive-kill", connection=queue.connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 4

    worker = spawn(threadkeeper("worker"), process_env(settings), "worker")
    wait_for(lambda: thread_state(settings, "t1")["archived"] == 1,
             "the re-run job to archive the thread", timeout=120, detail=worker.tail)  # fmt: skip
    assert snapshots(local_backend, "t1") == [marker.read_text()]  # one object per version
    assert thread_state(settings, "t1")["pttl"] > 0
    wait_for(lambda: job.get_status() == JobStatus.FINISHED, "the job to finish",
             detail=worker.tail)  # fmt: skip
