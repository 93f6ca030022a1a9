"""The /v1/threads routes: thin handlers over ThreadService."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.api.http import choice_param, int_param, read_body, wire_response
from threadkeeper.context import fill_context
from threadkeeper.errors import InvalidInput
from threadkeeper.models import parse_rfc3339
from threadkeeper.paging import ThreadPage, TurnPage
from threadkeeper.service import ThreadService, fingerprint
from threadkeeper.service import ThreadView as View
from threadkeeper.settings import Settings
from threadkeeper.wire.decode import check_id, decode_body, parse_new_thread, parse_new_turns
from threadkeeper.wire.shapes import (
    AppendedTurns,
    ForkRequest,
    ThreadContext,
    ThreadList,
    ThreadView,
    joined,
)

DEFAULT_PAGE = 50
MAX_SEQ = 2**53  # far past any thread (THREADKEEPER_MAX_TURNS), inside Redis stream IDs
MAX_IDEMPOTENCY_KEY = 255
MAX_PREFIX = 128  # an id is at most 128 characters


def _service(request: Request) -> ThreadService:
    return request.app.state.service  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _tenant(request: Request) -> str:
    return request.app.state.auth.tenant_for(request.headers.get("authorization"))  # type: ignore[no-any-return]


def _thread_id(request: Request) -> str:
    return check_id(request.path_params["thread_id"])


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


def _limit(request: Request) -> int:
    return (
        int_param(request, "limit", low=1, high=_settings(request).limits.max_page) or DEFAULT_PAGE
    )


def _turn_page(request: Request) -> TurnPage:
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    if cursor:
        return TurnPage.decode(cursor, limit)
    order = choice_param(request, "order", ("asc", "desc"), "asc")
    after = int_param(request, "after", high=MAX_SEQ)
    before = int_param(request, "before", low=1, high=MAX_SEQ)
    return TurnPage(order, after, before, limit)  # type: ignore[arg-type]


def _view_body(view: View) -> ThreadView:
    body = ThreadView(thread=view.thread.info(view.state), turns=joined(view.turns_json),
                      next=view.next)  # fmt: skip
    if view.missing is not None:
        body.missing_turns = list(view.missing)
        body.detail = view.missing_detail
    return body


def _view_headers(view: View) -> dict[str, str]:
    headers = {"Threadkeeper-Source": view.source}
    degraded = []
    if view.missing is not None:
        degraded.append(f"missing-turns={view.missing[0]}-{view.missing[1]}")
    if view.thread.gap_after is not None:
        degraded.append(f"possibly-missing-after={view.thread.gap_after}")
    if degraded:
        headers["Threadkeeper-Degraded"] = ", ".join(degraded)
    return headers


async def create_thread(request: Request) -> Response:
    tenant = _tenant(request)
    new = parse_new_thread(await read_body(request), _settings(request).limits)
    view, created = await _service(request).create(
        tenant, new, idempotency_key=_idempotency_key(request), digest=fingerprint(new)
    )
    return wire_response(
        _view_body(view),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/threads/{view.thread.id}"},
    )


async def read_thread(request: Request) -> Response:
    view = await _service(request).read(_tenant(request), _thread_id(request), _turn_page(request))
    return wire_response(_view_body(view), headers=_view_headers(view))


async def append_turns(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    new = parse_new_turns(await read_body(request), _settings(request).limits)
    result = await _service(request).append(
        tenant, thread_id, new, idempotency_key=_idempotency_key(request), digest=fingerprint(new)
    )
    return wire_response(
        AppendedTurns(seqs=result.seqs, version=result.version),
        status_code=200 if result.replayed else 201,
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


def thread_page(params: Mapping[str, str], limit: int) -> ThreadPage:
    """The listing a query asks for: a cursor, or the filters of a first page."""
    cursor = params.get("cursor")
    if cursor:
        return ThreadPage.decode(cursor, limit)
    prefix = params.get("prefix") or None
    if prefix is not None and len(prefix) > MAX_PREFIX:
        raise InvalidInput(f"prefix is over {MAX_PREFIX} characters", field="prefix")
    return ThreadPage(
        limit,
        params.get("tool") or None,
        time_param(params, "updated_after"),
        updated_before=time_param(params, "updated_before"),
        prefix=prefix,
    )


async def list_threads(request: Request) -> Response:
    tenant, page = _tenant(request), thread_page(request.query_params, _limit(request))
    threads, next_cursor = await _service(request).list(tenant, page)
    return wire_response(
        ThreadList(threads=[x.thread.info(x.state) for x in threads], next=next_cursor)
    )


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


async def delete_thread(request: Request) -> Response:
    await _service(request).delete(_tenant(request), _thread_id(request))
    return Response(status_code=204)


async def fork_thread(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    fork = decode_body(await read_body(request), ForkRequest)
    new_id = None if fork.id is None else check_id(fork.id)
    view = await _service(request).fork(tenant, thread_id, fork.at_seq, new_id)
    return wire_response(
        _view_body(view), status_code=201, headers={"Location": f"/v1/threads/{view.thread.id}"}
    )


async def thread_context(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    budget = int_param(request, "max_tokens", low=1)
    if budget is None:
        raise InvalidInput("max_tokens is required: the token budget to fill", field="max_tokens")
    page_size = _settings(request).limits.max_page
    found = await fill_context(_service(request), tenant, thread_id, budget, page_size)
    view = found.view
    body = ThreadContext(thread=view.thread.info(view.state), turns=joined(found.turns_json),
                         tokens=found.tokens, omitted=found.omitted)  # fmt: skip
    if view.missing is not None:
        body.missing_turns = list(view.missing)
        body.detail = view.missing_detail
    return wire_response(body, headers=_view_headers(view))


routes = [
    Route("/v1/threads", create_thread, methods=["POST"]),
    Route("/v1/threads", list_threads, methods=["GET"]),
    Route("/v1/threads/{thread_id}", read_thread, methods=["GET"]),
    Route("/v1/threads/{thread_id}", delete_thread, methods=["DELETE"]),
    Route("/v1/threads/{thread_id}/turns", append_turns, methods=["POST"]),
    Route("/v1/threads/{thread_id}/fork", fork_thread, methods=["POST"]),
    Route("/v1/threads/{thread_id}/context", thread_context, methods=["GET"]),
]
