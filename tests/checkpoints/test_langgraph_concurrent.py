"""Puts and writes racing on one thread: every fold that finds the index behind folds the
turns it missed, so nothing is lost from the index whatever order the folds land in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from threadkeeper.checkpoints import CheckpointService
from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings
from threadkeeper.wire.checkpoints import ChannelValue, CheckpointPut, WriteIn, WritesPut

RACERS = 24


def put(n: int) -> CheckpointPut:
    value = ChannelValue(channel=f"ch{n}", version=1, value=["msgpack", f"AA{n:02d}"])
    return CheckpointPut(thread="race", id=f"c{n:03d}", checkpoint=["msgpack", "gA=="],
                         versions={f"ch{n}": 1}, values=[value])  # fmt: skip


def writes(n: int) -> WritesPut:
    write = WriteIn(channel="x", idx=0, value=["msgpack", f"AB{n:02d}"])
    return WritesPut(thread="race", checkpoint_id="c000", task_id=f"task{n:02d}", writes=[write])


def test_racing_puts_and_writes_all_reach_the_index(
    make_settings: Callable[..., Settings],
) -> None:
    async def race() -> tuple[list[str], int, dict[str, list[str]]]:
        runtime = build_runtime(make_settings())
        try:
            service = CheckpointService(runtime.store, runtime.service, runtime.settings)
            await service.put("default", "race", put(0))  # the thread exists before the race
            await asyncio.gather(
                *(service.put("default", "race", put(n)) for n in range(1, RACERS)),
                *(service.put_writes("default", "race", writes(n)) for n in range(RACERS)),
            )
            listed, _ = await service.listing("default", "race", ns="", limit=100)
            first = await service.get("default", "race", "", "c000")
            newest = await service.get("default", "race", "")
            assert first is not None and newest is not None
            return [c.id for c in listed], len(first.writes), newest.values
        finally:
            await runtime.close()

    ids, pending, values = asyncio.run(race())
    assert ids == [f"c{n:03d}" for n in reversed(range(RACERS))]
    assert pending == RACERS
    assert values == {f"ch{RACERS - 1}": ["msgpack", f"AA{RACERS - 1:02d}"]}
