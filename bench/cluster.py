"""Section `cluster`: in-process appends on a Redis Cluster of 1 master vs 3 masters.

Both clusters are real redis-servers on loopback with the project's redis.conf (AOF on,
`appendfsync always`), cluster mode on; the 1-master one holds every slot itself, the
3-master one is split by `redis-cli --cluster create`. The same 32 clients (one thread
each) append through ThreadService over redis-py's cluster client, the two clusters
alternating within each repetition. Beside each rate: the CPU seconds each process spent
per append (this process, and every master), read from /proc, so a ratio below 1 says
where the time went. Every server is stopped by pid at the end.
"""

from __future__ import annotations

import os
import sys
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from common import Row, Run
from context import Bench, runs_row
from inproc import Kit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # how tests start one

from redis_cluster import RedisCluster, start_cluster  # noqa: E402
from threadkeeper.connection import async_client  # noqa: E402
from threadkeeper.runtime import build_runtime  # noqa: E402
from threadkeeper.settings import Settings  # noqa: E402

CLIENTS = 32
SIZES = (1, 3)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def master_pids(cluster: RedisCluster) -> list[int]:
    return [n.process.pid for n in cluster.masters() if n.process is not None]


def _kit(
    cluster: RedisCluster, queue_url: str, tmp: Path, stack: AsyncExitStack, acks: int = 0
) -> Kit:
    settings = Settings(
        redis_url=cluster.url,
        queue_redis_url=queue_url,
        archive_url=(tmp / "archive").as_uri(),
        home=tmp,
        replica_acks=acks,
    )
    runtime = build_runtime(settings, redis=async_client(cluster.url))
    stack.push_async_callback(runtime.close)
    return Kit(runtime)


class CpuLedger:
    """CPU seconds per append of this process and of the masters, over every run."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.appends = 0
        self.own = 0.0
        self.masters = [0.0 for _ in pids]

    async def measure(self, kit: Kit, b: Bench, tag: str) -> Run:
        s = b.sizes
        own, masters = os.times(), [cpu_seconds(p) for p in self.pids]
        run = await kit.throughput(CLIENTS, s.throughput_appends, s.throughput_seconds, tag)
        now = os.times()
        self.own += now.user + now.system - own.user - own.system
        for i, pid in enumerate(self.pids):
            self.masters[i] += cpu_seconds(pid) - masters[i]
        self.appends += run.ops
        return run

    def rows(self, label: str) -> list[Row]:
        per = 1e6 / max(self.appends, 1)
        shares = ", ".join(f"{m * per:.0f}" for m in self.masters)
        return [
            Row("cluster", f"CPU per append, this process, {label}", self.own * per, "us"),
            Row(
                "cluster",
                f"CPU per append, all masters, {label}",
                sum(self.masters) * per,
                "us",
                note=f"per master: {shares} us",
            ),
        ]


async def cluster(b: Bench, tmp: Path) -> None:
    """1 vs 3 masters, 32 clients, interleaved; the 3-master rate beside the 1-master one."""
    with ExitStack() as procs:
        clusters = {
            n: procs.enter_context(start_cluster(tmp / f"masters{n}", masters=n, appendfsync=None))
            for n in SIZES
        }
        async with AsyncExitStack() as stack:
            kits = {n: _kit(c, b.server.url, tmp / f"tk{n}", stack) for n, c in clusters.items()}
            ledgers = {n: CpuLedger(master_pids(c)) for n, c in clusters.items()}
            runs: dict[int, list[Run]] = {n: [] for n in SIZES}
            for rep in range(b.sizes.reps):
                for n in SIZES:
                    runs[n].append(await ledgers[n].measure(kits[n], b, f"cl{n}-{rep}"))
            _report(b, runs, ledgers)
        await replica_acks(b, procs, tmp)


async def replica_acks(b: Bench, procs: ExitStack, tmp: Path) -> None:
    """3 masters with a replica each: THREADKEEPER_REPLICA_ACKS=1 beside 0, interleaved."""
    replicated = procs.enter_context(
        start_cluster(tmp / "replicated", masters=3, replicas=1, appendfsync=None)
    )
    async with AsyncExitStack() as stack:
        kits = {a: _kit(replicated, b.server.url, tmp / f"acks{a}", stack, a) for a in (0, 1)}
        runs: dict[int, list[Run]] = {0: [], 1: []}
        s = b.sizes
        for rep in range(s.reps):
            for a, kit in kits.items():
                tag = f"ack{a}-{rep}"
                runs[a].append(
                    await kit.throughput(CLIENTS, s.throughput_appends, s.throughput_seconds, tag)
                )
    name = f"append, {CLIENTS} clients, 3 masters + 1 replica each, REPLICA_ACKS"
    b.add(runs_row("cluster", f"{name}=0", runs[0], None))
    b.add(runs_row("cluster", f"{name}=1", runs[1], runs[0], floor_name="REPLICA_ACKS=0"))


def _report(b: Bench, runs: dict[int, list[Run]], ledgers: dict[int, CpuLedger]) -> None:
    one = f"append, {CLIENTS} clients, 1 master"
    b.add(runs_row("cluster", one, runs[1], None))
    b.add(
        runs_row(
            "cluster",
            f"append, {CLIENTS} clients, 3 masters",
            runs[3],
            runs[1],
            floor_name="1 master",
        )
    )
    for n in SIZES:
        b.add(*ledgers[n].rows(f"{n} master{'s' if n > 1 else ''}"))
