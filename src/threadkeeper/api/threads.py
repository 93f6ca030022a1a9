"""The /v1/threads routes: thin handlers over ThreadService."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadkeeper.api.http import choice_param, int_param, read_json
from threadkeeper.errors import InvalidInput
from threadkeeper.models import parse_rfc3339
from threadkeeper.paging import ThreadPage, TurnPage
from threadkeeper.service import ThreadService, ThreadView, fingerprint
from threadkeeper.settings import Settings
from threadkeeper.validation import check_id, parse_fork, parse_new_thread, parse_new_turns

DEFAULT_PAGE = 50
MAX_SEQ = 2**53  # far past any thread (THREADKEEPER_MAX_TURNS), inside Redis stream IDs
MAX_IDEMPOTENCY_KEY = 255


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


def _view_body(view: ThreadView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "thread": view.thread.public(view.state),
        "turns": view.turns,
        "next": view.next,
    }
    if view.missing is not None:
        body["missing_turns"] = list(view.missing)
        body["detail"] = view.missing_detail
    return body


def _view_headers(view: ThreadView) -> dict[str, str]:
    headers = {"Threadkeeper-Source": view.source}
    if view.missing is not None:
        headers["Threadkeeper-Degraded"] = f"missing-turns={view.missing[0]}-{view.missing[1]}"
    return headers


async def create_thread(request: Request) -> Response:
    tenant = _tenant(request)
    body = await read_json(request, _settings(request).limits.max_body_bytes)
    new = parse_new_thread(body, _settings(request).limits)
    service = _service(request)
    view, created = await service.create(
        tenant, new, idempotency_key=_idempotency_key(request), digest=fingerprint(body)
    )
    return JSONResponse(
        _view_body(view),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/threads/{view.thread.id}"},
    )


async def read_thread(request: Request) -> Response:
    view = await _service(request).read(_tenant(request), _thread_id(request), _turn_page(request))
    return JSONResponse(_view_body(view), headers=_view_headers(view))


async def append_turns(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    body = await read_json(request, _settings(request).limits.max_body_bytes)
    new = parse_new_turns(body, _settings(request).limits)
    result = await _service(request).append(
        tenant, thread_id, new, idempotency_key=_idempotency_key(request), digest=fingerprint(body)
    )
    return JSONResponse(
        {"seqs": result.seqs, "version": result.version},
        status_code=200 if result.replayed else 201,
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


async def list_threads(request: Request) -> Response:
    tenant, limit = _tenant(request), _limit(request)
    cursor = request.query_params.get("cursor")
    if cursor:
        page = ThreadPage.decode(cursor, limit)
    else:
        after = request.query_params.get("updated_after")
        page = ThreadPage(limit, request.query_params.get("tool") or None, _time_param(after))
    threads, next_cursor = await _service(request).list(tenant, page)
    return JSONResponse(
        {"threads": [x.thread.public(x.state) for x in threads], "next": next_cursor}
    )


def _time_param(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise InvalidInput(
            f"updated_after={raw!r} is not an RFC 3339 time, e.g. 2026-01-31T12:00:00Z",
            field="updated_after",
        ) from None


async def delete_thread(request: Request) -> Response:
    await _service(request).delete(_tenant(request), _thread_id(request))
    return Response(status_code=204)


async def fork_thread(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    at_seq, new_id = parse_fork(await read_json(request, _settings(request).limits.max_body_bytes))
    view = await _service(request).fork(tenant, thread_id, at_seq, new_id)
    return JSONResponse(
        _view_body(view), status_code=201, headers={"Location": f"/v1/threads/{view.thread.id}"}
    )


async def thread_context(request: Request) -> Response:
    tenant, thread_id = _tenant(request), _thread_id(request)
    budget = int_param(request, "max_tokens", low=1)
    if budget is None:
        raise InvalidInput("max_tokens is required: the token budget to fill", field="max_tokens")
    service = _service(request)
    page: TurnPage | None = TurnPage(order="desc", limit=_settings(request).limits.max_page)
    kept: list[dict[str, Any]] = []
    used, view = 0, None
    while page is not None:
        view = await service.read(tenant, thread_id, page)
        for turn in view.turns:
            cost = turn["tokens"] if turn["tokens"] is not None else -(-len(turn["content"]) // 4)
            if used + cost > budget:
                page = None
                break
            used += cost
            kept.append(turn)
        else:
            page = TurnPage.decode(view.next, page.limit) if view.next else None
    assert view is not None
    kept.reverse()
    # Turns nothing holds any more are reported as missing, not as left out for the budget.
    lost = view.missing[1] - view.missing[0] + 1 if view.missing is not None else 0
    body: dict[str, Any] = {
        "thread": view.thread.public(view.state),
        "turns": kept,
        "tokens": used,
        "omitted": view.thread.turn_count - lost - len(kept),
    }
    if view.missing is not None:
        body["missing_turns"] = list(view.missing)
        body["detail"] = view.missing_detail
    return JSONResponse(body, headers=_view_headers(view))


routes = [
    Route("/v1/threads", create_thread, methods=["POST"]),
    Route("/v1/threads", list_threads, methods=["GET"]),
    Route("/v1/threads/{thread_id}", read_thread, methods=["GET"]),
    Route("/v1/threads/{thread_id}", delete_thread, methods=["DELETE"]),
    Route("/v1/threads/{thread_id}/turns", append_turns, methods=["POST"]),
    Route("/v1/threads/{thread_id}/fork", fork_thread, methods=["POST"]),
    Route("/v1/threads/{thread_id}/context", thread_context, methods=["GET"]),
]
