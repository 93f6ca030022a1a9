"""Request and response plumbing shared by every route: bodies, params, problems."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from threadkeeper.errors import (
    BodyTimeout,
    InvalidInput,
    LimitExceeded,
    MethodNotAllowed,
    RouteNotFound,
    ThreadkeeperError,
)

log = logging.getLogger("threadkeeper.api")

PROBLEM = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM


def problem_response(exc: ThreadkeeperError, headers: dict[str, str] | None = None) -> Response:
    return ProblemResponse(exc.problem(), status_code=exc.status, headers=headers)


async def on_error(request: Request, exc: Exception) -> Response:
    """The one handler for threadkeeper's errors (Starlette's MRO lookup covers the tree)."""
    assert isinstance(exc, ThreadkeeperError)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.detail)
    return problem_response(exc, {"Retry-After": "1"} if exc.extra.get("retry") else None)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route, wrong method), as problem+json like the rest."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    problem: ThreadkeeperError
    if exc.status_code == 404:
        problem = RouteNotFound(
            f"no route for {where}: the API is under /v1 (GET / links the entry points, "
            "/openapi.json lists every route)"
        )
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or headers.get("Allow", "")
        headers["Allow"] = allowed
        problem = MethodNotAllowed(f"{where} is not allowed: use {allowed}", allowed=allowed)
    else:
        problem = ThreadkeeperError(f"{where}: {exc.detail}")
        problem.status = exc.status_code
    return problem_response(problem, headers or None)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path (each method may be its own Route)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    problem = ThreadkeeperError(
        "the server failed unexpectedly and the outcome is unknown: a write may have been "
        "stored. Retry with the same Idempotency-Key (or read the thread first), and report "
        "this if it persists"
    )
    return problem_response(problem)


_encode = msgspec.json.Encoder().encode


def wire_response(
    body: msgspec.Struct, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A response body from the wire shapes, encoded by msgspec (stored turns pass as is)."""
    return Response(_encode(body), status_code, headers, media_type="application/json")


async def read_body(request: Request) -> bytes:
    """The raw body, refusing more than THREADKEEPER_MAX_BODY_BYTES before reading it all."""
    max_bytes: int = request.app.state.settings.limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    timeout: float = request.app.state.settings.body_timeout
    chunks: list[bytes] = []
    size = 0
    try:
        # A client that declares more than it sends would hold the connection forever.
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(size, max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(
            f"the request body did not arrive within {timeout:g} s ({size} bytes of "
            f"{declared or 'an unknown length'} came; THREADKEEPER_BODY_TIMEOUT): send the "
            "whole body, with a Content-Length that matches it",
            setting="THREADKEEPER_BODY_TIMEOUT",
        ) from None
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"the request body is over {limit} bytes (THREADKEEPER_MAX_BODY_BYTES); "
        "send fewer turns per request",
        limit=limit,
        setting="THREADKEEPER_MAX_BODY_BYTES",
    )


def int_param(request: Request, name: str, *, low: int = 0, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name}={raw!r} must be a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"query parameter {name}={value} must be {bounds}", field=name)
    return value


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidInput(f"query parameter {name}={value!r}: use one of {', '.join(choices)}")
    return value
