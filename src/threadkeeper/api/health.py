"""Health routes (the restart-survival report, readiness, metrics), the metrics middleware,
and the lifespan helper that watches the restart canary.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadkeeper import background, metrics
from threadkeeper.errors import ThreadkeeperError
from threadkeeper.health import report
from threadkeeper.runtime import Runtime
from threadkeeper.store import canary
from threadkeeper.web import search_service

log = logging.getLogger("threadkeeper.health")

STARTUP_GRACE = 15.0  # seconds before the start-up report (see monitor)
CANARY_EVERY = 5.0  # seconds between canary checks in the API process
READY_TIMEOUT = 5.0
UNMATCHED = "<unmatched>"  # the route label of a request no route matched


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _require_operator(request: Request) -> None:
    """/v1/health and /metrics show the archive path, the Redis address and run id.

    With tokens on, they take any tenant's token or THREADKEEPER_METRICS_TOKEN (for a
    scraper that should read no thread); /healthz and /readyz stay open for probes.
    """
    header = request.headers.get("authorization") or ""
    wanted = request.app.state.settings.metrics_token
    scheme, _, token = header.partition(" ")
    if wanted and scheme.lower() == "bearer":
        if hmac.compare_digest(token.strip().encode(), wanted.encode()):
            return
    request.app.state.auth.caller_for(header or None)  # raises Unauthorized when tokens are on


async def health(request: Request) -> Response:
    """GET /v1/health: the restart-survival report (200 whatever the status; read it)."""
    _require_operator(request)
    runtime = _runtime(request)
    found = await report(runtime.redis, runtime.archive, runtime.settings)
    return JSONResponse(found.public())


async def readyz(request: Request) -> Response:
    """GET /readyz: 200 when Redis answers (not loading) and the archive is reachable."""
    problems = await readiness_problems(_runtime(request))
    return JSONResponse(
        {"ready": not problems, "problems": problems}, status_code=503 if problems else 200
    )


async def readiness_problems(runtime: Runtime) -> list[str]:
    found = await asyncio.gather(_redis_problem(runtime), _archive_problem(runtime))
    return [problem for problem in found if problem is not None]


async def _redis_problem(runtime: Runtime) -> str | None:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            info = await runtime.redis.info("persistence")
    except (RedisError, OSError, TimeoutError) as exc:
        return f"redis: unreachable ({type(exc).__name__}: {exc})"
    if int(info.get("loading", 0)):
        done = float(info.get("loading_loaded_perc", 0))
        return f"redis: loading its data after a restart ({done:.0f}% done)"
    return None


async def _archive_problem(runtime: Runtime) -> str | None:
    if runtime.archive is None:
        return None
    try:
        await asyncio.wait_for(asyncio.to_thread(runtime.archive.ping), READY_TIMEOUT)
    except ThreadkeeperError as exc:
        return f"archive: {exc.detail}"
    except TimeoutError:
        return f"archive: {runtime.archive.url} did not answer within {READY_TIMEOUT:.0f} s"
    return None


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: Prometheus text; gauges and worker counters are read from Redis now."""
    _require_operator(request)
    runtime = _runtime(request)
    try:
        await metrics.refresh(runtime.redis, runtime.settings)
        metrics.GAUGES.set_search_lag((await search_service(request).status()).lag_seconds)
    except (RedisError, ThreadkeeperError, OSError) as exc:
        log.warning("metrics: could not read Redis, gauges are stale: %s", exc)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


routes: list[BaseRoute] = [
    Route("/v1/health", health, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]


class MetricsMiddleware:
    """Counts requests and their latency by route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            elapsed = time.perf_counter() - started
            metrics.record_request(route, scope["method"], status, elapsed)


@contextlib.asynccontextmanager
async def monitor(
    app: Any, every: float = CANARY_EVERY, grace: float = STARTUP_GRACE
) -> AsyncIterator[None]:
    """Lifespan helper: arm the canary, log the report's warnings, then watch the canary.

    The report waits `grace` seconds: under `threadkeeper up` the worker and the cron
    start beside the API, and a report taken at once would call them missing.
    """
    runtime: Runtime = app.state.runtime
    task = asyncio.create_task(_watch(runtime, every, grace))
    try:
        yield
    finally:
        await background.stop(task)


async def _watch(runtime: Runtime, every: float, grace: float) -> None:
    await _check_canary(runtime)
    await asyncio.sleep(grace)
    await log_startup_warnings(runtime)
    while True:
        await asyncio.sleep(every)
        await _check_canary(runtime)


async def _check_canary(runtime: Runtime) -> None:
    try:
        await canary.check_masters(runtime.redis)
    except ThreadkeeperError as exc:
        log.warning("restart canary: Redis did not answer: %s", exc.detail)


async def log_startup_warnings(runtime: Runtime) -> None:
    """Every warning of the report, in the log, once at start (also arms the canary)."""
    found = await report(runtime.redis, runtime.archive, runtime.settings)
    for warning in found.warnings:
        log.warning("%s", warning)
    log.info("health at start: %s", found.status.label)
