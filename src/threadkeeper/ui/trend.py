"""Recent append and read rates and sweeper lag, sampled in the API process for the chart.

The counters are the ones /metrics exposes; sampling them every few seconds into a
short ring buffer gives the health page its chart without any external service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from threadkeeper import background, metrics
from threadkeeper.errors import ThreadkeeperError

log = logging.getLogger("threadkeeper.ui")

SAMPLE_EVERY = 5.0  # seconds between samples
KEEP = 120  # samples kept: ten minutes at SAMPLE_EVERY
MIN_GAP = 1.0  # a page view adds a sample only this long after the last one
CHART_WIDTH, CHART_HEIGHT = 320, 64


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # epoch seconds
    appended: float  # turns appended so far by this process
    reads: float  # thread reads so far by this process
    sweeper_lag_s: float | None


@dataclass(frozen=True, slots=True)
class Series:
    """One line of the chart: its name, unit, latest and highest value, SVG points."""

    name: str
    unit: str
    latest: float | None
    peak: float
    points: str


class Trend:
    def __init__(self, keep: int = KEEP) -> None:
        self.samples: deque[Sample] = deque(maxlen=keep)

    async def sample(self, redis: Redis) -> None:
        appended, reads = metrics.totals()
        try:
            lag = await metrics.read_sweeper_lag(redis)
        except (RedisError, ThreadkeeperError, OSError) as exc:
            log.debug("trend: sweeper lag unreadable: %s", exc)  # a gap in the chart
            lag = None
        self.samples.append(Sample(time.time(), appended, reads, lag))

    async def sample_if_stale(self, redis: Redis) -> None:
        if not self.samples or time.time() - self.samples[-1].at >= MIN_GAP:
            await self.sample(redis)

    def series(self) -> list[Series]:
        pairs = list(zip(list(self.samples), list(self.samples)[1:], strict=False))
        appends = [_rate(a.appended, b.appended, a.at, b.at) for a, b in pairs]
        reads = [_rate(a.reads, b.reads, a.at, b.at) for a, b in pairs]
        lags = [b.sweeper_lag_s for _, b in pairs]
        return [
            _series("appends", "turns/s", appends),
            _series("reads", "reads/s", reads),
            _series("sweeper lag", "s", lags),
        ]

    def span_s(self) -> float:
        return self.samples[-1].at - self.samples[0].at if len(self.samples) > 1 else 0.0


def _rate(before: float, after: float, start: float, end: float) -> float:
    return max(0.0, after - before) / max(end - start, 1e-3)


def _series(name: str, unit: str, values: Sequence[float | None]) -> Series:
    known = [v for v in values if v is not None]
    peak = max(known, default=0.0)
    latest = values[-1] if values else None
    return Series(name, unit, latest, peak, _points(values, peak))


def _points(values: Sequence[float | None], peak: float) -> str:
    """SVG polyline points, newest at the right; unknown values are left out."""
    if not values:
        return ""
    step = CHART_WIDTH / max(len(values) - 1, 1)
    scale = (CHART_HEIGHT - 4) / peak if peak > 0 else 0.0
    return " ".join(
        f"{i * step:.1f},{CHART_HEIGHT - 2 - v * scale:.1f}"
        for i, v in enumerate(values)
        if v is not None
    )


@contextlib.asynccontextmanager
async def sampling(app: Any, every: float = SAMPLE_EVERY) -> AsyncIterator[None]:
    """Lifespan helper: sample the trend every `every` seconds while the app runs."""
    trend: Trend = app.state.trend
    redis: Redis = app.state.runtime.redis

    async def loop() -> None:
        while True:
            await trend.sample(redis)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await background.stop(task)
