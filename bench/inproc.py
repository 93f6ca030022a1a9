"""threadkeeper in-process: ThreadService over redis-py, no HTTP in between."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from common import TENANT, Run, drive, timed, turn

from threadkeeper import keys
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Limits
from threadkeeper.store.paging import TurnWindow
from threadkeeper.wire.decode import check_turn
from threadkeeper.wire.shapes import NewThread, NewTurns, TurnIn

FILL_BATCH = 500


def valid_turns(first: int, count: int) -> list[TurnIn]:
    return [check_turn(msgspec.convert(turn(first + i), TurnIn), Limits(), "turn")
            for i in range(count)]  # fmt: skip


@dataclass
class Kit:
    """Builds threads of a given length and appends/reads them through ThreadService."""

    runtime: Runtime

    @property
    def service(self) -> Any:
        return self.runtime.service

    async def create(self, thread_id: str, turns: int = 0) -> str:
        first = valid_turns(0, min(turns, FILL_BATCH))
        await self.service.create(
            TENANT, NewThread(id=thread_id, title="bench", tool="bench", turns=first)
        )
        for start in range(len(first), turns, FILL_BATCH):
            batch = valid_turns(start, min(FILL_BATCH, turns - start))
            await self.service.append(TENANT, thread_id, NewTurns(turns=batch))
        return thread_id

    def stream_key(self, thread_id: str) -> str:
        return keys.thread_keys(TENANT, thread_id).turns

    async def append(self, thread_id: str, new: NewTurns) -> Any:
        return await self.service.append(TENANT, thread_id, new)

    async def read_all(self, thread_id: str, turns: int) -> int:
        view = await self.service.read(TENANT, thread_id, TurnWindow(limit=turns))
        return len(view.turns_json)

    async def read_last(self, thread_id: str, count: int) -> int:
        view = await self.service.read(TENANT, thread_id, TurnWindow(order="desc", limit=count))
        return len(view.turns_json)

    async def throughput(
        self, clients: int, total: int, seconds: float, tag: str, per_request: int = 1
    ) -> Run:
        """`clients` concurrent appenders, each to its own thread; Run.ops counts requests."""
        ids = [await self.create(f"tp-{tag}-{c}") for c in range(clients)]
        new = NewTurns(turns=valid_turns(0, per_request))
        return await drive(clients, total, seconds, lambda c, i: self.append(ids[c], new))


@dataclass(frozen=True, slots=True)
class GrowthThreads:
    """Threads whose next append is turn 10 (short) or about turn N (long)."""

    short: list[str]
    long: list[str]


async def growth_threads(kit: Kit, tag: str, samples: int, long_turns: int) -> GrowthThreads:
    long_count = 3
    per_long = -(-samples // long_count)
    short = [await kit.create(f"gs-{tag}-{i}", 9) for i in range(samples)]
    long = [await kit.create(f"gl-{tag}-{i}", long_turns - per_long) for i in range(long_count)]
    return GrowthThreads(short, long)


async def growth(
    threads: GrowthThreads, append: Callable[[str], Awaitable[Any]]
) -> tuple[list[float], list[float]]:
    """Latencies of appends at turn 10 and near turn N, interleaved so drift hits both."""
    early: list[float] = []
    late: list[float] = []
    for i, short_id in enumerate(threads.short):
        long_id = threads.long[i % len(threads.long)]
        pair = [(short_id, early), (long_id, late)]
        for thread_id, into in pair if i % 2 else reversed(pair):
            into.append(await timed(append, thread_id))
    return early, late
