"""The cold tier against a real S3 server (SeaweedFS): archive throughput, rehydrate latency."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import STDOUT, Popen, TimeoutExpired

from botocore.config import Config
from common import TENANT, Row, absolute_at_least, absolute_at_most, median, timed
from context import Bench
from inproc import Kit
from rq import Worker
from servers import S3Server

from threadkeeper import keys
from threadkeeper.archive.s3 import S3Archive
from threadkeeper.jobs.queue import enqueue, make_queue
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.snapshot import Snapshot, encode_snapshot
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import TurnWindow


def s3_runtime(redis_url: str, server: S3Server, home: Path) -> Runtime:
    """A Runtime whose archive is a fresh prefix of the bench's SeaweedFS bucket."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    archive = S3Archive(
        server.bucket, prefix, endpoint_url=server.endpoint_url, session=server.session()
    )
    archive_url = f"s3://{server.bucket}/{prefix}"
    settings = Settings(redis_url=redis_url, archive_url=archive_url, home=home)
    return build_runtime(settings, redis=async_client(redis_url), archive=archive)


RQ_BATCH = 50  # threads per archive job (the sweeper sends up to THREADKEEPER_SWEEP_BATCH)


@dataclass(frozen=True, slots=True)
class ArchiveRun:
    threads: int
    turns: int
    seconds: float
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        return self.threads / self.seconds


async def archive_throughput(
    kit: Kit, tag: str, threads: int, turns: int, workers: int
) -> ArchiveRun:
    """Snapshot `threads` dirty threads of `turns` turns with `workers` concurrent workers."""
    ids = [await kit.create(f"cold-{tag}-{i}", turns) for i in range(threads)]
    pending = iter(ids)
    statuses: dict[str, int] = {}
    tiering = kit.runtime.tiering

    async def worker() -> None:
        for thread_id in pending:
            status = await tiering.archiver.archive_thread(TENANT, thread_id)
            statuses[status] = statuses.get(status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return ArchiveRun(threads, turns, time.perf_counter() - began, statuses)


async def snapshot_size(kit: Kit, turns: int) -> int:
    """The bytes of one snapshot of a `turns`-turn thread, as archiving writes it."""
    thread_id = await kit.create(f"size-{uuid.uuid4().hex[:8]}", turns)
    state = await kit.runtime.store.all_turns(TENANT, thread_id)
    assert state is not None
    thread, blobs, idem = state
    return len(encode_snapshot(Snapshot(dict(thread.to_hash()), blobs, idem)))


async def evict(kit: Kit, thread_id: str) -> None:
    """What the hot TTL lapsing does to a clean thread: its turns leave Redis."""
    k = keys.thread_keys(TENANT, thread_id)
    await kit.runtime.redis.delete(k.turns, k.idempotency)


async def rehydrate_latency(kit: Kit, tag: str, turns: int, reads: int) -> dict[str, list[float]]:
    """Rehydrate (Tiering.rehydrate) and cold lookup (service.read) of an evicted thread."""
    thread_id = await kit.create(f"rehydrate-{tag}", turns)
    status = await kit.runtime.tiering.archiver.archive_thread(TENANT, thread_id)
    if status != "archived":
        raise RuntimeError(f"archiving {thread_id} answered {status}")
    rehydrate: list[float] = []
    lookup: list[float] = []
    for _ in range(reads):
        await evict(kit, thread_id)
        rehydrate.append(await timed(_rehydrate, kit, thread_id))
        await evict(kit, thread_id)
        lookup.append(await timed(_cold_read, kit, thread_id, turns))
    return {"rehydrate": rehydrate, "lookup": lookup}


async def _rehydrate(kit: Kit, thread_id: str) -> None:
    outcome = await kit.runtime.tiering.restorer.rehydrate(TENANT, thread_id)
    if outcome.status != "restored":
        raise RuntimeError(f"rehydrate of {thread_id} answered {outcome.status}")


async def _cold_read(kit: Kit, thread_id: str, turns: int) -> None:
    view = await kit.service.read(TENANT, thread_id, TurnWindow(limit=turns))
    if view.source != "archive" or len(view.turns_json) != turns:
        raise RuntimeError(f"cold read of {thread_id}: {view.source}, {len(view.turns_json)} turns")


def s3_put_floor(server: S3Server, objects: int, size: int, workers: int) -> float:
    """Plain boto3 PUTs of `size`-byte objects from `workers` threads: objects/s."""
    client = server.session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    body = os.urandom(size)
    prefix = f"floor-{uuid.uuid4().hex[:8]}"

    def put(i: int) -> None:
        client.put_object(Bucket=server.bucket, Key=f"{prefix}/{i}", Body=body)

    put(-1)  # connect
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, range(objects)))
    return objects / (time.perf_counter() - began)


# -- the real thing: `threadkeeper worker` processes (RQ SimpleWorker) ----------------


def archive_env(redis_url: str, archive_url: str, server: S3Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    return env | {
        "THREADKEEPER_REDIS_URL": redis_url,
        "THREADKEEPER_ARCHIVE_URL": archive_url,
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": "us-east-1",
    }


@contextmanager
def rq_workers(env: dict[str, str], count: int, log_dir: Path) -> Iterator[list[Popen[bytes]]]:
    """`count` `threadkeeper worker` processes, stopped (SIGTERM) on exit."""
    procs: list[Popen[bytes]] = []
    try:
        for i in range(count):
            with (log_dir / f"worker-{i}.log").open("wb") as log:
                command = [sys.executable, "-m", "threadkeeper", "worker"]
                procs.append(Popen(command, env=env, stdout=log, stderr=STDOUT))
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def wait_workers(settings: Settings, count: int, timeout: float = 60) -> None:
    queue = make_queue(settings)
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} rq workers did not register within {timeout}s")
        await asyncio.sleep(0.1)


async def rq_archive(
    kit: Kit, settings: Settings, tag: str, threads: int, turns: int, batch: int
) -> ArchiveRun:
    """Enqueue archive batches of `batch` threads; time until every thread is clean."""
    ids = [await kit.create(f"rq-{tag}-{i}", turns) for i in range(threads)]
    members = [keys.thread_keys(TENANT, i).member for i in ids]
    queue = make_queue(settings)
    began = time.perf_counter()
    for n in range(0, threads, batch):
        chunk = members[n : n + batch]
        enqueue(queue, "archive_batch", [chunk], f"bench-{tag}-{n}", settings)
    await _all_clean(kit, ids, deadline=time.monotonic() + 120)
    return ArchiveRun(threads, turns, time.perf_counter() - began, {"archived": threads})


async def _all_clean(kit: Kit, ids: list[str], deadline: float) -> None:
    pending = list(ids)
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} threads still dirty after the deadline")
        async with kit.runtime.redis.pipeline(transaction=False) as pipe:
            for thread_id in pending:
                pipe.hmget(keys.thread_keys(TENANT, thread_id).meta, "version", "archived_version")
            states = await pipe.execute()
        pending = [i for i, (v, a) in zip(pending, states, strict=True) if int(a or 0) < int(v)]
        await asyncio.sleep(0.02)


# -- cold tier -------------------------------------------------------------------

ARCHIVE_TARGET = absolute_at_least(200, ">= 200 threads/s")


async def cold_tier(b: Bench, s3: S3Server, s3_kit: Kit, tmp: Path) -> None:
    s = b.sizes
    size = await snapshot_size(s3_kit, s.archive_turns)
    puts = [s3_put_floor(s3, s.archive_threads, size, 2) for _ in range(s.cold_reps)]
    b.add(
        Row(
            "floor",
            f"S3 PUT {size:,} B objects, boto3, 2 threads",
            median(puts),
            "ops/s",
            extra={"rates": [round(r, 1) for r in puts]},
        )
    )
    for workers in (2, 16):
        runs = [
            await archive_throughput(
                s3_kit, f"a{workers}-{rep}", s.archive_threads, s.archive_turns, workers
            )
            for rep in range(s.cold_reps)
        ]
        b.add(_archive_row(f"archive, in-process, {workers} concurrent", runs, median(puts)))
    await _rq_archive(b, s3, s3_kit, tmp, median(puts))
    await _rehydrate_rows(b, s3_kit)


def _archive_row(name: str, runs: list[ArchiveRun], put_floor: float) -> Row:
    rates = sorted(r.rate for r in runs)
    return Row(
        "cold",
        f"{name} ({runs[0].turns}-turn threads)",
        median(rates),
        "threads/s",
        put_floor,
        "S3 PUT floor, 2 threads",
        ARCHIVE_TARGET,
        extra={"rates": [round(r, 1) for r in rates], "statuses": [r.statuses for r in runs]},
    )


async def _rq_archive(b: Bench, s3: S3Server, s3_kit: Kit, tmp: Path, put_floor: float) -> None:
    s, settings = b.sizes, s3_kit.runtime.settings
    env = archive_env(b.server.url, settings.archive_url or "", s3)
    with rq_workers(env, 2, tmp) as _:
        await wait_workers(settings, 2)
        runs = [
            await rq_archive(
                s3_kit, settings, f"{rep}", s.archive_threads, s.archive_turns, RQ_BATCH
            )
            for rep in range(s.cold_reps)
        ]
    b.add(_archive_row(f"archive, 2 RQ workers, batches of {RQ_BATCH}", runs, put_floor))


async def _rehydrate_rows(b: Bench, s3_kit: Kit) -> None:
    s = b.sizes
    n = s.rehydrate_turns
    times = await rehydrate_latency(s3_kit, "r", n, s.rehydrate_reads)
    rehydrate, lookup = times["rehydrate"], times["lookup"]
    b.add(
        Row(
            "cold",
            f"rehydrate {n:,}-turn thread from S3, p50",
            median(rehydrate) * 1000,
            "ms",
            target=absolute_at_most(50, "<= 50 ms"),
            extra={"samples_ms": [round(t * 1000, 2) for t in rehydrate]},
        ),
        Row(
            "cold",
            f"cold lookup {n:,} turns (rehydrate + read), p50",
            median(lookup) * 1000,
            "ms",
            extra={"samples_ms": [round(t * 1000, 2) for t in lookup]},
        ),
    )
