"""The native edit routes: PATCH a thread, PATCH or DELETE one of its turns."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.errors import InvalidInput
from threadkeeper.models import ThreadState
from threadkeeper.service.editor import Editor, Patch, TurnChange
from threadkeeper.settings import Limits
from threadkeeper.web import (
    MAX_SEQ,
    app_settings,
    int_param,
    read_body,
    request_caller,
    thread_service,
    visible_thread,
    wire_response,
)
from threadkeeper.wire.decode import check_metadata, check_turn_size, decode_body
from threadkeeper.wire.numbers import parse_whole
from threadkeeper.wire.openai import ThreadPatch, ThreadUpdated, TurnChanged, TurnPatch
from threadkeeper.wire.threads import thread_info


def _editor(request: Request) -> Editor:
    return Editor(thread_service(request))


def _seq(request: Request) -> int:
    return parse_whole(request.path_params["seq"], "turn seq", low=1, high=MAX_SEQ, field="seq")


def _change_body(change: TurnChange) -> TurnChanged:
    return TurnChanged(seq=change.seq, version=change.version, changed=change.changed,
                       turn=change.turn)  # fmt: skip


def _checked(patch: Patch, limits: Limits) -> Patch:
    """The settings' limits on what a PATCH sets; something must be sent."""
    if not patch.fields:
        raise InvalidInput("send the fields to change (content and/or metadata, or title)")
    if "metadata" in patch.fields:
        check_metadata(patch.fields["metadata"], limits, "metadata")
    content = patch.fields.get("content")
    size = len(content.encode()) if isinstance(content, str) else 0  # msgspec refused surrogates
    check_turn_size(size, limits, "content")
    return patch


async def patch_thread(request: Request) -> Response:
    """PATCH /v1/threads/{id} {title?, metadata?, expected_version?} -> the thread."""
    tenant, thread_id = await visible_thread(request)
    body = decode_body(await read_body(request), ThreadPatch, app_settings(request).limits)
    patch = _checked(Patch.of(body, ("title", "metadata", "user_id")), app_settings(request).limits)
    if "user_id" in patch.fields:
        thread_service(request).access.reassign(request_caller(request))
    thread = await _editor(request).update_thread(tenant, thread_id, patch)
    return wire_response(ThreadUpdated(thread=thread_info(thread, ThreadState.HOT)))


async def patch_turn(request: Request) -> Response:
    """PATCH /v1/threads/{id}/turns/{seq} {content?, metadata?, expected_version?}."""
    (tenant, thread_id), seq = await visible_thread(request), _seq(request)
    body = decode_body(await read_body(request), TurnPatch, app_settings(request).limits)
    patch = _checked(Patch.of(body, ("content", "metadata")), app_settings(request).limits)
    change = await _editor(request).edit_turn(tenant, thread_id, seq, patch)
    return wire_response(_change_body(change))


async def delete_turn(request: Request) -> Response:
    """DELETE /v1/threads/{id}/turns/{seq}[?expected_version=N]: gone from every read."""
    (tenant, thread_id), seq = await visible_thread(request), _seq(request)
    expected = int_param(request, "expected_version", high=MAX_SEQ)
    change = await _editor(request).delete_turn(tenant, thread_id, seq, expected)
    return wire_response(_change_body(change))


routes = [
    Route("/v1/threads/{thread_id}", patch_thread, methods=["PATCH"]),
    Route("/v1/threads/{thread_id}/turns/{seq}", patch_turn, methods=["PATCH"]),
    Route("/v1/threads/{thread_id}/turns/{seq}", delete_turn, methods=["DELETE"]),
]
