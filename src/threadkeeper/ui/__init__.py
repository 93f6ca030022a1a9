"""The web console under /ui: server-rendered pages over the same service as the API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from threadkeeper.ui import actions, health, search, threads
from threadkeeper.ui.render import see_other
from threadkeeper.ui.trend import Trend, sampling

__all__ = ["Trend", "routes", "sampling"]

LINKS = {
    "console": "/ui",
    "threads": "/v1/threads",
    "health": "/v1/health",
    "openapi": "/openapi.json",
}


async def root(request: Request) -> Response:
    """GET /: a browser goes to the console; any other client gets the API's links."""
    if "text/html" in request.headers.get("accept", ""):
        return see_other("/ui/")
    return JSONResponse({"links": LINKS})


async def console_home(request: Request) -> Response:
    return see_other("/ui/threads")


_THREAD = "/threads/{thread_id}"

pages: list[BaseRoute] = [
    Route("/", console_home, methods=["GET"]),
    Route("/login", actions.login_page, methods=["GET"]),
    Route("/login", actions.login, methods=["POST"]),
    Route("/logout", actions.logout, methods=["POST"]),
    Route("/threads", threads.threads_page, methods=["GET"]),
    Route("/health", health.health_page, methods=["GET"]),
    Route("/search", search.search_page, methods=["GET"]),
    Route(_THREAD, threads.thread_page_view, methods=["GET"]),
    Route(_THREAD + "/delete", threads.delete_page, methods=["GET"]),
    Route(_THREAD + "/delete", actions.delete, methods=["POST"]),
    Route(_THREAD + "/archive", actions.archive, methods=["POST"]),
    Route(_THREAD + "/rehydrate", actions.rehydrate, methods=["POST"]),
    Route(_THREAD + "/fork", actions.fork, methods=["POST"]),
    Route(_THREAD + "/export.jsonl", actions.export, methods=["GET"]),
    Mount("/static", StaticFiles(packages=[("threadkeeper.ui", "static")]), name="static"),
]

# The console is one mount (HTML pages, outside the API's OpenAPI contract); GET / is the API's.
routes: list[BaseRoute] = [
    Route("/", root, methods=["GET"]),
    Mount("/ui", routes=pages, name="console"),
]
