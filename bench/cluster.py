"""Section `cluster`: in-process and HTTP appends on a Redis Cluster of 1 vs 3 masters.

Both clusters are real redis-servers on loopback with the project's redis.conf (AOF on,
`appendfsync always`), cluster mode on; the 1-master one holds every slot itself, the
3-master one is split by `redis-cli --cluster create`. The same 32 clients (one thread
each) append through ThreadService over redis-py's cluster client, the two clusters
alternating within each repetition. Beside each rate: the CPU seconds each process spent
per append (this process, and every master), read from /proc, so a ratio below 1 says
where the time went. Then the same over HTTP: one API process (uvicorn) per cluster,
its RQ queue on the bench's standalone Redis, 32 keep-alive clients, the two clusters
alternating again, with the API process's CPU per append beside the masters'. Every
server is stopped by pid (the API by its process group) at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from common import Row, Run
from context import Bench, runs_row
from http_api import HttpKit
from inproc import Kit
from servers import api_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # how tests start one

from redis_cluster import RedisCluster, start_cluster  # noqa: E402
from threadkeeper.runtime import build_runtime  # noqa: E402
from threadkeeper.settings import Settings  # noqa: E402
from threadkeeper.store.connection import async_client  # noqa: E402

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


def cluster_kit(
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


def own_cpu_seconds() -> float:
    now = os.times()
    return now.user + now.system


class CpuLedger:
    """CPU seconds per append of the client side and of the masters, over every run.

    The client side is this process (in-process appends) or, over HTTP, the API's.
    """

    def __init__(
        self, pids: list[int], client: Callable[[], float] = own_cpu_seconds, who: str = ""
    ) -> None:
        self.pids = pids
        self.client = client
        self.who = who or "this process"
        self.appends = 0
        self.own = 0.0
        self.masters = [0.0 for _ in pids]

    async def measure(self, run: Awaitable[Run]) -> Run:
        own, masters = self.client(), [cpu_seconds(p) for p in self.pids]
        done = await run
        self.own += self.client() - own
        for i, pid in enumerate(self.pids):
            self.masters[i] += cpu_seconds(pid) - masters[i]
        self.appends += done.ops
        return done

    def rows(self, label: str) -> list[Row]:
        per = 1e6 / max(self.appends, 1)
        shares = ", ".join(f"{m * per:.0f}" for m in self.masters)
        return [
            Row("cluster", f"CPU per append, {self.who}, {label}", self.own * per, "us"),
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
            kits = {
                n: cluster_kit(c, b.server.url, tmp / f"tk{n}", stack) for n, c in clusters.items()
            }
            ledgers = {n: CpuLedger(master_pids(c)) for n, c in clusters.items()}
            runs: dict[int, list[Run]] = {n: [] for n in SIZES}
            s = b.sizes
            for rep in range(s.reps):
                for n in SIZES:
                    run = kits[n].throughput(
                        CLIENTS, s.throughput_appends, s.throughput_seconds, f"cl{n}-{rep}"
                    )
                    runs[n].append(await ledgers[n].measure(run))
            _report(b, runs, ledgers, "")
        await http_appends(b, procs, clusters, tmp)
        await replica_acks(b, procs, tmp)


async def http_appends(
    b: Bench, procs: ExitStack, clusters: dict[int, RedisCluster], tmp: Path
) -> None:
    """HTTP appends on each cluster through its own API process, interleaved as above."""
    apis = {
        n: procs.enter_context(api_server(tmp / f"api{n}", c.url, queue_url=b.server.url))
        for n, c in clusters.items()
    }
    ledgers = {
        n: CpuLedger(master_pids(c), lambda p=apis[n].process.pid: cpu_seconds(p), "the API")
        for n, c in clusters.items()
    }
    runs: dict[int, list[Run]] = {n: [] for n in SIZES}
    s = b.sizes
    for rep in range(s.reps):
        for n, api in apis.items():
            kit = HttpKit(api.host, api.port, CLIENTS)
            run = kit.throughput(s.http_requests, s.throughput_seconds, f"h{n}-{rep}")
            runs[n].append(await ledgers[n].measure(run))
            await kit.close()
    _report(b, runs, ledgers, "HTTP ")


async def replica_acks(b: Bench, procs: ExitStack, tmp: Path) -> None:
    """3 masters with a replica each: THREADKEEPER_REPLICA_ACKS=1 beside 0, interleaved."""
    replicated = procs.enter_context(
        start_cluster(tmp / "replicated", masters=3, replicas=1, appendfsync=None)
    )
    async with AsyncExitStack() as stack:
        kits = {
            a: cluster_kit(replicated, b.server.url, tmp / f"acks{a}", stack, a) for a in (0, 1)
        }
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


def _report(b: Bench, runs: dict[int, list[Run]], ledgers: dict[int, CpuLedger], how: str) -> None:
    one = f"{how}append, {CLIENTS} clients, 1 master"
    b.add(runs_row("cluster", one, runs[1], None))
    b.add(
        runs_row(
            "cluster",
            f"{how}append, {CLIENTS} clients, 3 masters",
            runs[3],
            runs[1],
            floor_name=f"{how}1 master",
        )
    )
    for n in SIZES:
        b.add(*ledgers[n].rows(f"{how}{n} master{'s' if n > 1 else ''}"))
