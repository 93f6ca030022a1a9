"""The figures behind docs/SCALING.md: Redis bytes per hot turn, archived stub and
tombstone, and what THREADKEEPER_REPLICA_ACKS=1 costs on a 3-master cluster with a
replica each (store level, 32 concurrent clients, one process).

    .venv/bin/python bench/cluster_sizes.py

Run it by hand; `make bench`'s section `cluster` (bench/cluster.py) measures the
throughput of 1 vs 3 masters and REPLICA_ACKS=1 under the project's appendfsync always.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from redis_cluster import start_cluster  # noqa: E402
from store_support import blob, new_thread  # noqa: E402
from threadkeeper import keys  # noqa: E402
from threadkeeper.daemon.redis_server import ManagedRedis  # noqa: E402
from threadkeeper.store.connection import async_client  # noqa: E402
from threadkeeper.store.thread_store import ThreadStore  # noqa: E402

THREADS, TURNS, CONTENT = 200, 20, "x" * 400


async def usage(store: ThreadStore, names: list[str]) -> int:
    return sum([(await store.redis.memory_usage(n, samples=0)) or 0 for n in names])


async def sizes(url: str) -> None:
    client = async_client(url)
    store = ThreadStore(client, hot_ttl=None)
    for i in range(THREADS):
        assert await store.create(new_thread(f"m{i}"), [])
        for j in range(TURNS):
            turn = [blob(CONTENT)]
            await store.append("acme", f"m{i}", turn, max_turns=10**6, idempotency_key=f"k{j}")
    k = keys.thread_keys("acme", "m1")
    turns = await usage(store, [k.turns])
    idem = await usage(store, [k.idempotency])
    stub = await usage(store, [k.meta])
    indexes = 0
    for b in keys.BUCKETS:
        names = [keys.activity_index(b), keys.dirty_index(b), keys.tenant_index("acme", b)]
        indexes += await usage(store, names)
    await store.delete("acme", "m2", "deleted")
    tomb = await usage(store, [keys.thread_keys("acme", "m2").tombstone])
    await client.aclose()
    print(f"hot turn ({len(CONTENT)} B content): {turns / TURNS:.0f} B; "
          f"idempotency record: {idem / TURNS:.0f} B per keyed append")  # fmt: skip
    print(f"metadata hash (what an archived thread keeps): {stub} B; "
          f"index entries: {indexes / THREADS:.0f} B per thread; tombstone: {tomb} B")  # fmt: skip


async def acks_cost(url: str, acks: int, appends: int = 640, clients: int = 32) -> None:
    client = async_client(url)
    store = ThreadStore(client, hot_ttl=None, replica_acks=acks)
    for i in range(clients):
        await store.create(new_thread(f"a{acks}-{i}"), [])
    latencies: list[float] = []

    async def writer(i: int) -> None:
        for j in range(appends // clients):
            started = time.perf_counter()
            turn: Any = [blob("y" * 400)]
            await store.append("acme", f"a{acks}-{i}", turn, max_turns=10**6,
                               idempotency_key=f"q{j}")  # fmt: skip
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"REPLICA_ACKS={acks}: {len(latencies) / elapsed:.0f} appends/s at {clients} clients, "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")  # fmt: skip
    await client.aclose()


async def main() -> None:
    base = Path(tempfile.mkdtemp())
    server = ManagedRedis(base / "standalone").start()
    try:
        await sizes(server.url)
    finally:
        server.stop()
    with start_cluster(base / "cluster", masters=3, replicas=1) as cluster:
        for acks in (0, 1, 0, 1):
            await acks_cost(cluster.url, acks)


if __name__ == "__main__":
    asyncio.run(main())
