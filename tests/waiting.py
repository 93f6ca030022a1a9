"""The one way a test waits: poll a condition until it holds, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
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
            break
        time.sleep(interval)
    if not value and fail:
        more = f"\n{detail()}" if detail is not None else ""
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{more}")
    return value
