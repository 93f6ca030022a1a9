"""A real Redis Cluster on loopback: N masters (and replicas), free ports, stopped by pid.

Each node is a ManagedRedis (the project's redis.conf) with cluster mode on and an
explicit free cluster-bus port; `redis-cli --cluster create` splits the slots in
even ranges over the masters and gives each its replicas.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from threadkeeper.daemon.redis_server import ManagedRedis, free_port
from waiting import wait_for

__all__ = ["RedisCluster", "start_cluster"]

READY_TIMEOUT = 90.0


@dataclass
class RedisCluster:
    nodes: list[ManagedRedis] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def client(self, node: ManagedRedis) -> redis.Redis:
        return redis.Redis(port=node.port, socket_connect_timeout=2, socket_timeout=10)

    def masters(self) -> list[ManagedRedis]:
        """The nodes that are masters now (after a failover, a former replica)."""
        return [n for n in self.live() if self._role(n) == "master"]

    def master_ports(self, keys: list[str]) -> list[int]:
        """The port of the master serving each key's slot (CLUSTER SLOTS, asked once)."""
        with self.client(self.nodes[0]) as conn:
            ranges = [(int(r[0]), int(r[1]), int(r[2][1]))
                      for r in conn.execute_command("CLUSTER", "SLOTS")]  # fmt: skip
        slots = [key_slot(key.encode()) for key in keys]
        return [next(port for low, high, port in ranges if low <= s <= high) for s in slots]

    def live(self) -> list[ManagedRedis]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def _role(self, node: ManagedRedis) -> str:
        with self.client(node) as conn:
            return str(conn.info("replication")["role"])

    def flush(self) -> None:
        for node in self.masters():
            with self.client(node) as conn:
                conn.flushall()

    def wait_ok(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every live node says cluster_state:ok and all its replicas are in sync."""
        wait_for(lambda: all(self._ok(n) for n in self.live()), "cluster_state:ok",
                 timeout=timeout, detail=self.nodes[0].log_tail)  # fmt: skip

    def _ok(self, node: ManagedRedis) -> bool:
        with self.client(node) as conn:
            info = conn.cluster("info")
            if info.get("cluster_state") != "ok":
                return False
            replication = conn.info("replication")
        if replication["role"] == "slave":
            return bool(replication.get("master_link_status") == "up")
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _node(base: Path, index: int, node_timeout_ms: int, appendfsync: str | None) -> ManagedRedis:
    bus = free_port()
    args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms), "--cluster-port", str(bus)]  # fmt: skip
    if appendfsync is not None:
        args += ["--appendfsync", appendfsync]
    return ManagedRedis(base / f"node{index}", extra_args=args)


def _create(cluster: RedisCluster, replicas: int) -> None:
    """`redis-cli --cluster create` (it wants 3 masters at least); one master takes every slot."""
    if len(cluster.nodes) == 1:
        with cluster.client(cluster.nodes[0]) as conn:
            conn.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        return
    addresses = [f"127.0.0.1:{n.port}" for n in cluster.nodes]
    cli = shutil.which("redis-cli") or "redis-cli"
    subprocess.run(
        [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(replicas),
         "--cluster-yes"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


@contextmanager
def start_cluster(
    base: Path,
    masters: int = 3,
    replicas: int = 0,
    node_timeout_ms: int = 2000,
    appendfsync: str | None = "everysec",
) -> Iterator[RedisCluster]:
    """Start the nodes, create the cluster, wait until it serves every slot.

    `appendfsync` None keeps the project's redis.conf (`always`); the tests use everysec.
    """
    cluster = RedisCluster()
    try:
        for index in range(masters * (1 + replicas)):
            cluster.nodes.append(_node(base, index, node_timeout_ms, appendfsync).start())
        _create(cluster, replicas)
        cluster.wait_ok()
        yield cluster
    finally:
        cluster.stop()
