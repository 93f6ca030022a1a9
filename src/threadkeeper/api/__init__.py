"""The Starlette application: routes, the problem+json handler, and its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadkeeper import ui
from threadkeeper.api import (
    checkpoints,
    conversations,
    edits,
    health,
    mcp,
    search,
    threads,
    tiering,
)
from threadkeeper.api.hosts import HostGuard
from threadkeeper.api.schema import openapi_document
from threadkeeper.auth import TokenAuth
from threadkeeper.errors import ThreadkeeperError
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.web import on_error, on_http_exception, on_unexpected


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def app_from_env() -> Starlette:
    """The app from the environment: what each of `serve --workers N`'s processes runs."""
    return create_app(Settings.from_env())


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """Build the API; a test may hand in a ready Runtime (its own Redis, archive, clock)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt = runtime if runtime is not None else build_runtime(settings)
        app.state.runtime = rt
        app.state.service = rt.service
        # Everything built so far lives as long as the process: keep it out of the
        # collector's scans, which otherwise cost a third of a 10,000-turn read.
        gc.freeze()
        try:
            async with health.monitor(app), ui.sampling(app), mcp.serving(app):
                yield
        finally:
            if runtime is None:
                await rt.close()

    routes = [
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),
        *threads.routes,
        *search.routes,
        *edits.routes,
        *conversations.routes,
        *checkpoints.routes,
        *tiering.routes,
        *health.routes,
        Route(mcp.PATH, mcp.endpoint, methods=["POST"]),  # stateless: no GET stream, no DELETE
        *ui.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # The host check is the outermost layer: no route, mount or metric sees a stranger.
        middleware=[Middleware(HostGuard), Middleware(health.MetricsMiddleware)],
        exception_handlers={
            ThreadkeeperError: on_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
    )
    app.state.settings = settings
    app.state.auth = TokenAuth.from_settings(settings, DEFAULT_TENANT)
    app.state.trend = ui.Trend()
    return app
