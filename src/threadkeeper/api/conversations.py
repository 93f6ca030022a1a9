"""The /v1/conversations routes: OpenAI's Conversations API, answered from threadkeeper.

Shapes follow the `openai` SDK's own types (openai/types/conversations); errors use
OpenAI's body, `{"error": {"message", "type", "param", "code"}}`, so the SDK raises
its NotFoundError, BadRequestError, ... with threadkeeper's message.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.conversations.items import check_items
from threadkeeper.conversations.service import Conversations
from threadkeeper.errors import InvalidInput, ThreadkeeperError
from threadkeeper.models import ORDERS, Thread
from threadkeeper.web import (
    app_settings,
    choice_param,
    idempotency_key,
    int_param,
    read_body,
    request_caller,
    thread_service,
    visible_thread,
    wire_response,
)
from threadkeeper.wire.decode import decode_body
from threadkeeper.wire.openai import (
    Conversation,
    ConversationCreate,
    ConversationDeleted,
    ConversationUpdate,
    ItemList,
    ItemsCreate,
    OpenAIError,
    OpenAIErrorDetail,
)

Handler = Callable[[Request], Awaitable[Response]]
_encode = msgspec.json.Encoder().encode
DEFAULT_LIMIT, MAX_LIMIT = 20, 100  # OpenAI's
MAX_METADATA_PAIRS, MAX_KEY, MAX_VALUE = 16, 64, 512  # OpenAI's metadata rules


def openai_errors(handler: Handler) -> Handler:
    """Answer threadkeeper's errors in OpenAI's error body, on these routes only."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ThreadkeeperError as exc:
            return error_response(exc)

    return wrapped


def error_response(exc: ThreadkeeperError) -> Response:
    # OpenAI answers every bad request with 400, a limit too (ours: 413).
    status = 400 if exc.status == 413 else exc.status
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 401:
        kind = "authentication_error"
    param = exc.extra.get("field")
    detail = OpenAIErrorDetail(message=exc.detail, type=kind,
                               param=param if isinstance(param, str) else None,
                               code=exc.slug.replace("-", "_"))  # fmt: skip
    # The SDK retries 409s and 5xx by default: a 4xx is final, say so.
    headers = {"x-should-retry": "false"} if status < 500 else None
    return wire_response(OpenAIError(error=detail), status, headers)


def conversation_body(thread: Thread) -> Conversation:
    return Conversation(id=thread.id, created_at=thread.created_at // 1000,
                        metadata=thread.metadata)  # fmt: skip


def item_list(items: list[dict[str, Any]], has_more: bool) -> ItemList:
    return ItemList(data=items, first_id=items[0]["id"] if items else None,
                    last_id=items[-1]["id"] if items else None, has_more=has_more)  # fmt: skip


def _conversations(request: Request) -> Conversations:
    return Conversations(thread_service(request))


async def _conversation(request: Request) -> tuple[str, str]:
    """(tenant, id) of the conversation the path names, once the caller may see it."""
    return await visible_thread(request, "conversation_id", "conversation id")


def check_openai_metadata(value: object) -> dict[str, Any]:
    """OpenAI's rules: at most 16 pairs, keys up to 64 characters, string values up to 512."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_PAIRS:
        raise InvalidInput(
            f"metadata must be an object of at most {MAX_METADATA_PAIRS} pairs", field="metadata"
        )
    for key, item in value.items():
        if len(key) > MAX_KEY or not isinstance(item, str) or len(item) > MAX_VALUE:
            raise InvalidInput(
                f"metadata[{key[:MAX_KEY]!r}]: keys hold at most {MAX_KEY} characters and "
                f"values are strings of at most {MAX_VALUE}",
                field="metadata",
            )
    return value


@openai_errors
async def create(request: Request) -> Response:
    caller = request_caller(request)
    body = decode_body(await read_body(request), ConversationCreate, app_settings(request).limits)
    turns = check_items(body.items, app_settings(request).limits)
    metadata = check_openai_metadata(body.metadata)
    thread = await _conversations(request).create(
        caller.tenant, turns, metadata, idempotency_key(request), user_id=caller.user_id
    )
    return wire_response(conversation_body(thread))


@openai_errors
async def retrieve(request: Request) -> Response:
    thread = await _conversations(request).retrieve(*await _conversation(request))
    return wire_response(conversation_body(thread))


@openai_errors
async def update(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    body = decode_body(await read_body(request), ConversationUpdate, app_settings(request).limits)
    metadata = check_openai_metadata(body.metadata)
    thread = await _conversations(request).update(tenant, conv_id, metadata)
    return wire_response(conversation_body(thread))


@openai_errors
async def delete(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    await _conversations(request).delete(tenant, conv_id)
    return wire_response(ConversationDeleted(id=conv_id))


@openai_errors
async def create_items(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    body = decode_body(await read_body(request), ItemsCreate, app_settings(request).limits)
    turns = check_items(body.items, app_settings(request).limits)
    items = await _conversations(request).add_items(
        tenant, conv_id, turns, idempotency_key(request)
    )
    return wire_response(item_list(items, False))


@openai_errors
async def list_items(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    limit = int_param(request, "limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT
    order = choice_param(request, "order", ORDERS, "desc")
    after = request.query_params.get("after") or None
    page = await _conversations(request).list_items(tenant, conv_id, limit, order, after)  # type: ignore[arg-type]
    # The OpenAI shape has no room to say so: turns lost are named in the header, as natively.
    headers = None
    if page.missing is not None:
        headers = {"Threadkeeper-Degraded": "missing-turns={}-{}".format(*page.missing)}
    return wire_response(item_list(page.items, page.has_more), headers=headers)


@openai_errors
async def retrieve_item(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    item = await _conversations(request).get_item(tenant, conv_id, request.path_params["item_id"])
    return Response(_encode(item), media_type="application/json")


@openai_errors
async def delete_item(request: Request) -> Response:
    tenant, conv_id = await _conversation(request)
    item_id = request.path_params["item_id"]
    thread = await _conversations(request).delete_item(tenant, conv_id, item_id)
    return wire_response(conversation_body(thread))


BASE = "/v1/conversations"
routes = [
    Route(BASE, create, methods=["POST"]),
    Route(BASE + "/{conversation_id}", retrieve, methods=["GET"]),
    Route(BASE + "/{conversation_id}", update, methods=["POST"]),
    Route(BASE + "/{conversation_id}", delete, methods=["DELETE"]),
    Route(BASE + "/{conversation_id}/items", create_items, methods=["POST"]),
    Route(BASE + "/{conversation_id}/items", list_items, methods=["GET"]),
    Route(BASE + "/{conversation_id}/items/{item_id}", retrieve_item, methods=["GET"]),
    Route(BASE + "/{conversation_id}/items/{item_id}", delete_item, methods=["DELETE"]),
]
