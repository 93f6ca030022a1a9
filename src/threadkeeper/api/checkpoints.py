"""The LangGraph checkpoint routes: thin handlers over CheckpointService.

The path's thread id is the threadkeeper thread's; the client
(threadkeeper.integrations.langgraph) derives it from LangGraph's thread_id and sends
that one in the body, to title the thread.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.checkpoints import CheckpointService
from threadkeeper.errors import InvalidInput, ThreadNotFound
from threadkeeper.store.paging import DEFAULT_PAGE
from threadkeeper.web import (
    app_settings,
    choice_param,
    int_param,
    read_body,
    request_tenant,
    visible_thread,
    wire_response,
)
from threadkeeper.wire.checkpoints import (
    CheckpointList,
    CheckpointPut,
    CheckpointStored,
    CopyRequest,
    Counted,
    PruneRequest,
    RunsDelete,
    WritesPut,
    WritesStored,
)
from threadkeeper.wire.decode import check_id, decode_body


def _service(request: Request) -> CheckpointService:
    state = request.app.state
    service: CheckpointService | None = getattr(state, "checkpoints", None)
    if service is None:
        runtime = state.runtime
        service = state.checkpoints = CheckpointService(runtime.store, runtime.service,
                                                        state.settings)  # fmt: skip
    return service


def _limit(request: Request) -> int:
    high = app_settings(request).limits.max_page
    return int_param(request, "limit", low=1, high=high) or DEFAULT_PAGE


def _name(value: str, field: str) -> str:
    """A namespace, id or task id: the index separates them with NUL, so none may hold one."""
    if "\0" in value:
        raise InvalidInput(f"{field} must not contain a NUL character (\\u0000)", field=field)
    return value


def _names(*pairs: tuple[str, str]) -> None:
    for value, field in pairs:
        _name(value, field)


async def put_checkpoint(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    put = decode_body(await read_body(request), CheckpointPut, app_settings(request).limits)
    _names((put.ns, "ns"), (put.id, "id"), *((ch, "versions") for ch in put.versions))
    seq = await _service(request).put(tenant, thread_id, put)
    body = CheckpointStored(thread_id=thread_id, ns=put.ns, id=put.id, seq=seq)
    return wire_response(body, status_code=201)


async def put_writes(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    put = decode_body(await read_body(request), WritesPut, app_settings(request).limits)
    _names((put.ns, "ns"), (put.checkpoint_id, "checkpoint_id"), (put.task_id, "task_id"))
    seq = await _service(request).put_writes(tenant, thread_id, put)
    return wire_response(WritesStored(seq=seq), status_code=201)


async def get_checkpoint(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    ns = _name(request.query_params.get("ns", ""), "ns")
    checkpoint_id = _name(request.query_params.get("id", ""), "id")
    found = await _service(request).get(tenant, thread_id, ns, checkpoint_id)
    if found is None:
        what = f"checkpoint {checkpoint_id!r}" if checkpoint_id else "checkpoint"
        raise ThreadNotFound(
            f"thread {thread_id!r} holds no {what} in namespace {ns!r}: put one first",
            thread_id=thread_id,
        )
    return wire_response(found)


def _metadata_filter(request: Request) -> dict[str, Any] | None:
    raw = request.query_params.get("metadata")
    if not raw:
        return None
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput(
            'metadata must be a JSON object of the pairs to match, e.g. {"source":"loop"}',
            field="metadata",
        )
    return value


async def list_checkpoints(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    params = request.query_params
    every = choice_param(request, "all_ns", ("true", "false"), "false") == "true"
    ns = None if every else _name(params.get("ns", ""), "ns")
    found, more = await _service(request).listing(
        tenant, thread_id, ns=ns, before=_name(params.get("before", ""), "before"),
        limit=_limit(request), metadata=_metadata_filter(request),
    )  # fmt: skip
    return wire_response(CheckpointList(checkpoints=found, next=more))


async def copy_thread(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    copy = decode_body(await read_body(request), CopyRequest, app_settings(request).limits)
    target = check_id(copy.target_id)
    count = await _service(request).copy(tenant, thread_id, target, copy.target_thread)
    return wire_response(Counted(count=count))


async def prune_thread(request: Request) -> Response:
    tenant, thread_id = await visible_thread(request)
    prune = decode_body(await read_body(request), PruneRequest, app_settings(request).limits)
    count = await _service(request).prune(tenant, thread_id, prune.strategy)
    return wire_response(Counted(count=count))


async def delete_runs(request: Request) -> Response:
    runs = decode_body(await read_body(request), RunsDelete, app_settings(request).limits)
    count = await _service(request).delete_runs(request_tenant(request), runs.run_ids)
    return wire_response(Counted(count=count))


routes = [
    Route("/v1/threads/{thread_id}/checkpoints", put_checkpoint, methods=["POST"]),
    Route("/v1/threads/{thread_id}/checkpoints", list_checkpoints, methods=["GET"]),
    Route("/v1/threads/{thread_id}/checkpoint", get_checkpoint, methods=["GET"]),
    Route("/v1/threads/{thread_id}/checkpoints/writes", put_writes, methods=["POST"]),
    Route("/v1/threads/{thread_id}/checkpoints/copy", copy_thread, methods=["POST"]),
    Route("/v1/threads/{thread_id}/checkpoints/prune", prune_thread, methods=["POST"]),
    Route("/v1/checkpoints/delete-runs", delete_runs, methods=["POST"]),
]
