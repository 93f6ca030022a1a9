"""Shutdown never waits forever on a background loop."""

from __future__ import annotations

import asyncio
import time

from threadkeeper import background
from waiting import wait_for_async


async def _loop_that_swallows_one_cancellation(ticks: list[float]) -> None:
    swallowed = False
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True  # as a library that turns a cancellation into its own error might
        ticks.append(time.monotonic())


def test_a_loop_that_swallows_a_cancellation_still_stops() -> None:
    async def main() -> asyncio.Task[None]:
        ticks: list[float] = []
        task = asyncio.create_task(_loop_that_swallows_one_cancellation(ticks))
        await wait_for_async(lambda: ticks, "the loop to tick once")  # it is running
        await asyncio.wait_for(background.stop(task, within=5.0), timeout=10)
        return task

    task = asyncio.run(main())
    assert task.cancelled()
