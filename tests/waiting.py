"""The one way a test waits: poll a condition until it holds, never a fixed sleep.

`wait_for` polls from plain code; `wait_for_async` from a coroutine, whose condition
may be a coroutine too, and which leaves the event loop free meanwhile (the writers it
waits on often run on that loop).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    what: str,
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (),
    detail: Callable[[], str] | None = None,
    fail: bool = True,
) -> T:
    """Call `check` until it answers something truthy, and return that.

    Past `timeout` seconds the test fails, naming `what` (and `detail()`, say a log);
    with `fail=False` the last answer is returned instead. An exception in `ignoring`
    (a server not listening yet) counts as not yet. Timeouts are generous: a wait
    says how long is too long, never how long is fast enough.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except ignoring:
            value = None  # type: ignore[assignment]
        if value or time.monotonic() > deadline:
            return _verdict(value, what, timeout, detail, fail)
        time.sleep(interval)


async def wait_for_async(
    check: Callable[[], Awaitable[T] | T],
    what: str,
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (),
    detail: Callable[[], str] | None = None,
    fail: bool = True,
) -> T:
    """`wait_for` in a coroutine: `check` may be async; the loop runs on between calls."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
            value: T = await answer if inspect.isawaitable(answer) else answer  # type: ignore[assignment]
        except ignoring:
            value = None  # type: ignore[assignment]
        if value or time.monotonic() > deadline:
            return _verdict(value, what, timeout, detail, fail)
        await asyncio.sleep(interval)


def _verdict(
    value: T, what: str, timeout: float, detail: Callable[[], str] | None, fail: bool
) -> T:
    if not value and fail:
        more = f"\n{detail()}" if detail is not None else ""
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{more}")
    return value
