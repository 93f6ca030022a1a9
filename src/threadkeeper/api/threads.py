"""The /v1/threads routes: thin handlers over ThreadService."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.errors import InvalidInput
from threadkeeper.models import ORDERS
from threadkeeper.service import ThreadRead, fingerprint
from threadkeeper.service.context import fill_context
from threadkeeper.store.paging import DEFAULT_PAGE, TurnWindow
from threadkeeper.web import (
    MAX_SEQ,
    app_settings,
    choice_param,
    idempotency_key,
    int_param,
    read_body,
    request_caller,
    thread_page,
    thread_service,
    visible_thread,
    wire_response,
)
from threadkeeper.wire.decode import check_id, decode_body, parse_new_thread, parse_new_turns
from threadkeeper.wire.shapes import (
    AppendedTurns,
    ForkRequest,
    ThreadContext,
    ThreadList,
    ThreadView,
    joined,
)
from threadkeeper.wire.threads import thread_info


def _limit(request: Request) -> int:
    return (
        int_param(request, "limit", low=1, high=app_settings(request).limits.max_page)
        or DEFAULT_PAGE
    )


def _turn_page(request: Request) -> TurnWindow:
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    if cursor:
        return TurnWindow.decode(cursor, limit)
    order = choice_param(request, "order", ORDERS, "asc")
    after = int_param(request, "after", high=MAX_SEQ)
    before = int_param(request, "before", low=1, high=MAX_SEQ)
    return TurnWindow(order, after, before, limit)  # type: ignore[arg-type]


def _view_body(view: ThreadRead) -> ThreadView:
    body = ThreadView(thread=thread_info(view.thread, view.state), turns=joined(view.turns_json),
                      next=view.next)  # fmt: skip
    if view.missing is not None:
        body.missing_turns = list(view.missing)
        body.detail = view.missing_detail
    return body


def _view_headers(view: ThreadRead) -> dict[str, str]:
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
    caller, service = request_caller(request), thread_service(request)
    new = parse_new_thread(await read_body(request), app_settings(request).limits)
    new = service.access.owned(caller, new)
    view, created = await service.create(
        caller.tenant, new, idempotency_key=idempotency_key(request), digest=fingerprint(new)
    )
    return wire_response(
        _view_body(view),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/threads/{view.thread.id}"},
    )


async def read_thread(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    view = await thread_service(request).read(tenant, thread_id, _turn_page(request))
    return wire_response(_view_body(view), headers=_view_headers(view))


async def append_turns(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    new = parse_new_turns(await read_body(request), app_settings(request).limits)
    result = await thread_service(request).append(
        tenant, thread_id, new, idempotency_key=idempotency_key(request), digest=fingerprint(new)
    )
    return wire_response(
        AppendedTurns(seqs=result.seqs, version=result.version),
        status_code=200 if result.replayed else 201,
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


async def list_threads(request: Request) -> Response:
    caller, service = request_caller(request), thread_service(request)
    page = service.access.listing(caller, thread_page(request.query_params, _limit(request)))
    threads, next_cursor = await service.list(caller.tenant, page)
    return wire_response(
        ThreadList(threads=[thread_info(x.thread, x.state) for x in threads], next=next_cursor)
    )


async def delete_thread(request: Request) -> Response:
    await thread_service(request).delete(*await visible_thread(request))
    return Response(status_code=204)


async def fork_thread(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    fork = decode_body(await read_body(request), ForkRequest, app_settings(request).limits)
    new_id = None if fork.id is None else check_id(fork.id)
    view = await thread_service(request).fork(tenant, thread_id, fork.at_seq, new_id)
    return wire_response(
        _view_body(view), status_code=201, headers={"Location": f"/v1/threads/{view.thread.id}"}
    )


async def thread_context(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    budget = int_param(request, "max_tokens", low=1)
    if budget is None:
        raise InvalidInput("max_tokens is required: the token budget to fill", field="max_tokens")
    page_size = app_settings(request).limits.max_page
    found = await fill_context(thread_service(request), tenant, thread_id, budget, page_size)
    view = found.view
    body = ThreadContext(thread=thread_info(view.thread, view.state),
                         turns=joined(found.turns_json),
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
