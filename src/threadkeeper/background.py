"""Background loops of a process (the API's canary watch, the console's sampler).

Shutdown must never wait on them forever: `stop` cancels a loop and, should the
cancellation be swallowed on its way through a library (the loop then carries on
to its next sleep), cancels it again until it ends or the bound runs out.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("threadkeeper")

STOP_WITHIN = 5.0  # seconds a shutdown waits for one background loop
_RETRY_EVERY = 0.2  # seconds between two cancellations of a loop that carried on


async def stop(task: asyncio.Task[None], within: float = STOP_WITHIN) -> None:
    """Cancel `task` and wait until it is done, at most `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=min(_RETRY_EVERY, max(deadline - loop.time(), 0)))
    if not task.done():
        log.warning("background task %s did not stop within %.0f s: left behind", task, within)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("background task %s had failed: %r", task.get_name(), task.exception())
