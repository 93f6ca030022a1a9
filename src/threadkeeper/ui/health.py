"""The console's health page: the restart-survival report as a person reads it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from threadkeeper.health import report
from threadkeeper.runtime import Runtime
from threadkeeper.ui import session
from threadkeeper.ui.render import console, page
from threadkeeper.ui.trend import CHART_HEIGHT, CHART_WIDTH, Trend

LOSS_WINDOWS = {
    "none": "nothing acknowledged is lost if the machine crashes (AOF, fsync always)",
    "1s": "a crash of the machine can lose up to the last second of writes",
    "30s": "a crash of the machine can lose up to ~30 s of writes (the OS decides when)",
    "all-since-last-save": "a restart loses everything written since the last RDB save "
    "(no AOF): turn on appendonly",
}


@console
async def health_page(request: Request) -> Response:
    session.caller(request)  # with tokens, the report is for a logged-in browser only
    runtime: Runtime = request.app.state.runtime
    trend: Trend = request.app.state.trend
    await trend.sample_if_stale(runtime.redis)
    found = await report(runtime.redis, runtime.archive, runtime.settings)
    body = found.public()
    return page(
        request, "health.html", nav="health", report=body, overall=body["status"],
        loss=_loss(body["durability"]), memory=_memory(body["durability"]),
        survived=body["restart"].get("data_survived_last_restart"),
        series=trend.series(), span_s=round(trend.span_s()), samples=len(trend.samples),
        chart_width=CHART_WIDTH, chart_height=CHART_HEIGHT,
    )  # fmt: skip


def _loss(durability: dict[str, Any]) -> str:
    window = durability.get("loss_window")
    if window is None:
        return "unknown: Redis did not answer"
    return LOSS_WINDOWS.get(str(window), str(window))


def _memory(durability: dict[str, Any]) -> dict[str, Any]:
    ratio = durability.get("memory_used_ratio")
    percent = None if ratio is None else round(ratio * 100, 1)
    limit = durability.get("maxmemory") or 0
    return {
        "ratio": ratio,
        "percent": percent,
        "limit": f"maxmemory {limit // (1024 * 1024)} MiB" if limit else "the machine's memory",
        "policy": durability.get("eviction_policy"),
    }
