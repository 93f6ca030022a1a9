"""The floor: the same workload done directly on Redis, with nothing of threadkeeper in it.

An append is one Lua call (XADD with a seq id plus the metadata bump), a read is
one XRANGE, both through redis-py with hiredis; and `redis-benchmark` XADDs the
same payload from C, which is as fast as this Redis takes appends at all.
"""

from __future__ import annotations

import csv
import io
import subprocess

from common import Run, content, drive
from redis.asyncio import Redis

FLOOR_APPEND = """
local seq = redis.call('HINCRBY', KEYS[1], 'turn_count', 1)
redis.call('XADD', KEYS[2], '0-' .. seq, 't', ARGV[1])
redis.call('HSET', KEYS[1], 'version', seq, 'updated_at', ARGV[2])
return seq
"""


def floor_keys(name: str) -> list[str]:
    return [f"floor:{{{name}}}:meta", f"floor:{{{name}}}:turns"]


class LuaFloor:
    """Appends and reads done the leanest way redis-py allows."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.script = redis.register_script(FLOOR_APPEND)
        self.payload = content(0).encode()

    async def append(self, name: str, payload: bytes | None = None) -> int:
        return int(await self.script(floor_keys(name), [payload or self.payload, 1]))

    async def throughput(self, clients: int, total: int, seconds: float, tag: str) -> Run:
        """`clients` concurrent appenders, each to its own stream."""
        return await drive(clients, total, seconds, lambda c, i: self.append(f"{tag}-{c}"))

    async def fill(self, name: str, payloads: list[bytes]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for blob in payloads:
                await self.script(floor_keys(name), [blob, 1], client=pipe)
            await pipe.execute()

    async def xrange(self, key: str) -> int:
        return len(await self.redis.xrange(key))

    async def xrevrange(self, key: str, count: int) -> int:
        return len(await self.redis.xrevrange(key, count=count))


def redis_benchmark(port: int, clients: int, requests: int, payload: str) -> Run:
    """`redis-benchmark` XADD of the payload: the C client's rate and latency percentiles."""
    return redis_command(port, clients, requests, "XADD", "bench:rb", "*", "t", payload)


def redis_command(port: int, clients: int, requests: int, *command: str) -> Run:
    """`redis-benchmark` running `command` (one round trip each, no pipelining)."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests),
            "-c", str(clients), "-P", "1", "--csv", *command]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    row = next(csv.DictReader(io.StringIO(done.stdout)))
    rate = float(row["rps"])
    reported = (float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))
    return Run(requests, requests / rate, reported_ms=reported)
