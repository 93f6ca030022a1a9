"""What every HTTP surface (the API, the console) shares: bodies, params, problems, who asks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import msgspec
from starlette.datastructures import QueryParams
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
from threadkeeper.idempotency import MAX_KEY
from threadkeeper.keys import MAX_ID
from threadkeeper.models import Caller, parse_rfc3339
from threadkeeper.search import SearchService
from threadkeeper.service import ThreadService
from threadkeeper.settings import Settings
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.wire.decode import check_id
from threadkeeper.wire.numbers import MAX_SEQ as MAX_SEQ  # what routes read a seq up to
from threadkeeper.wire.numbers import MAX_WHOLE, is_plain_digits, parse_whole
from threadkeeper.wire.shapes import MAX_LABEL

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
    if declared is not None and is_plain_digits(declared) and int(declared) > max_bytes:
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


def int_param(request: Request, name: str, *, low: int = 0, high: int = MAX_WHOLE) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    return parse_whole(raw, f"query parameter {name}", low=low, high=high, field=name)


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidInput(f"query parameter {name}={value!r}: use one of {', '.join(choices)}")
    return value


# What every route reads from its request: the app's parts, who asks, the common parameters.

MAX_PREFIX = MAX_ID  # a prefix of an id
METADATA_PARAM = "metadata."
MAX_METADATA_FILTERS = 8


def thread_service(request: Request) -> ThreadService:
    return request.app.state.service  # type: ignore[no-any-return]


def search_service(request: Request) -> SearchService:
    """The app's SearchService, made on first use (it opens the index only when asked)."""
    state = request.app.state
    service: SearchService | None = getattr(state, "search", None)
    if service is None:
        service = SearchService(state.settings, state.runtime.redis)
        state.search = service
    return service


def app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def request_caller(request: Request) -> Caller:
    """Who is asking: the tenant and, for a user token, the user (models.Caller)."""
    return request.app.state.auth.caller_for(request.headers.get("authorization"))  # type: ignore[no-any-return]


def request_tenant(request: Request) -> str:
    """The tenant of a tenant-wide token (a user token: 403). Routes use `request_caller`."""
    return request.app.state.auth.tenant_for(request.headers.get("authorization"))  # type: ignore[no-any-return]


def path_thread_id(request: Request) -> str:
    return check_id(request.path_params["thread_id"])


async def visible_thread(
    request: Request, param: str = "thread_id", what: str = "thread id"
) -> tuple[str, str]:
    """(tenant, id) of the thread the path names, once the caller may see it: every route
    on one thread starts here (service.access says why)."""
    caller = request_caller(request)
    thread_id = check_id(request.path_params[param], what)
    await thread_service(request).access.check(caller, thread_id)
    return caller.tenant, thread_id


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_KEY and key.isprintable()):
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


def thread_page(params: Mapping[str, str], limit: int) -> ThreadQuery:
    """The listing a query asks for: a cursor, or the filters of a first page."""
    cursor = params.get("cursor")
    if cursor:
        return ThreadQuery.decode(cursor, limit)
    prefix = params.get("prefix") or None
    if prefix is not None and len(prefix) > MAX_PREFIX:
        raise InvalidInput(f"prefix is over {MAX_PREFIX} characters", field="prefix")
    user_id = params.get("user_id") or None
    return ThreadQuery(
        limit,
        params.get("tool") or None,
        time_param(params, "updated_after"),
        updated_before=time_param(params, "updated_before"),
        prefix=prefix,
        user_id=None if user_id is None else check_id(user_id, "user_id"),
        metadata=metadata_params(params),
    )


def metadata_params(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`metadata.KEY=VALUE` query parameters (repeatable, all must hold), as (key, value)."""
    items = params.multi_items() if isinstance(params, QueryParams) else params.items()
    pairs = tuple(
        (name.removeprefix(METADATA_PARAM), value)
        for name, value in items
        if name.startswith(METADATA_PARAM)
    )
    if len(pairs) > MAX_METADATA_FILTERS:
        raise InvalidInput(
            f"at most {MAX_METADATA_FILTERS} metadata.KEY=VALUE filters per listing",
            field="metadata",
        )
    if any(not key or len(key) > MAX_PREFIX or len(value) > MAX_LABEL for key, value in pairs):
        raise InvalidInput(
            f"metadata.KEY=VALUE: name a key of 1-{MAX_PREFIX} characters and a value of at "
            f"most {MAX_LABEL}, e.g. metadata.project=apollo",
            field="metadata",
        )
    return pairs


def time_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise InvalidInput(
            f"{name}={raw!r} is not an RFC 3339 time, e.g. 2026-01-31T12:00:00Z",
            field=name,
        ) from None
