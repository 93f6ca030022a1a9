"""What every section works with: the servers and clients of one Redis, and result rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from common import Row, Run, Sizes, median, median_run
from floor import LuaFloor
from inproc import Kit
from redis.asyncio import Redis

from threadkeeper.daemon.redis_server import ManagedRedis

RB = "redis-benchmark XADD"
LUA = "Lua XADD+HSET via redis-py"
XRANGE = "XRANGE via redis-py"


@dataclass
class Bench:
    sizes: Sizes
    server: ManagedRedis
    redis: Redis
    kit: Kit
    floor: LuaFloor
    rows: list[Row] = field(default_factory=list)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)
        for row in rows:
            ratio = f" ({row.ratio:.2f}x floor)" if row.ratio is not None else ""
            print(
                f"  {row.section:<12} {row.name:<44} {row.value:>12.3f} {row.unit}{ratio}",
                flush=True,
            )


def runs_row(
    section: str,
    name: str,
    runs: list[Run],
    floor: list[Run] | None,
    turns_per_op: int = 1,
    **kw: object,
) -> Row:
    """The median rate, and the median run's latencies.

    Beside a floor measured in the same repetitions, the ratio is the median of the
    per-repetition ratios, so the machine's drift cancels out. With `turns_per_op` > 1
    (batch appends) the rate is in turns/s.
    """
    run = median_run(runs)
    paired = None
    if floor and len(floor) == len(runs):
        paired = median([r.rate * turns_per_op / f.rate for r, f in zip(runs, floor, strict=True)])
    return Row(
        section,
        name,
        median([r.rate for r in runs]) * turns_per_op,
        "ops/s" if turns_per_op == 1 else "turns/s",
        None if floor is None else median([f.rate for f in floor]),
        extra={
            "p50_ms": round(run.p50_ms, 3),
            "p99_ms": round(run.p99_ms, 3),
            "rates": [round(r.rate, 1) for r in runs],
        },
        paired=paired,
        **kw,  # type: ignore[arg-type]
    )


def latency_rows(section: str, name: str, run: Run) -> list[Row]:
    return [
        Row(section, f"{name} p50", run.p50_ms, "ms"),
        Row(section, f"{name} p99", run.p99_ms, "ms"),
    ]
