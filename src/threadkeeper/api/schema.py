"""/openapi.json, generated from the wire shapes and one table of the app's operations.

Each route of the app has its entry in OPERATIONS (a test walks the app's routes
to hold that true); request and response bodies are the msgspec Structs the
handlers decode and encode, so the document cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from threadkeeper.idempotency import MAX_KEY
from threadkeeper.keys import MAX_ID
from threadkeeper.models import ORDERS
from threadkeeper.wire import checkpoints, openai, shapes
from threadkeeper.wire.shapes import ID_REGEX

REF = "#/components/schemas/{name}"
PROBLEM_STATUSES = (400, 401, 404, 413, 422, 503, 507)
AUTH_NOTE = "A bearer token, required when THREADKEEPER_TOKENS_FILE is set (it picks the tenant)."


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    responses: dict[int, Any]  # status -> a shape, None (no body), or (media type, schema)
    body: Any = None
    params: tuple[dict[str, Any], ...] = ()
    problems: tuple[int, ...] = ()
    tenant: bool = True  # answers per tenant: takes the bearer token
    headers: dict[int, tuple[str, ...]] = field(default_factory=dict)
    openai: bool = False  # /v1/conversations: errors in OpenAI's body, limits as 400


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


PATH_ID = {"name": "thread_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": ID_REGEX}}  # fmt: skip
PATH_PARAMS = {
    "{thread_id}": PATH_ID,
    "{conversation_id}": {**PATH_ID, "name": "conversation_id"},
    "{item_id}": {"name": "item_id", "in": "path", "required": True,
                  "schema": {"type": "string", "minLength": 1}},
    "{seq}": {"name": "seq", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 1}},
}  # fmt: skip
OPENAI_STATUSES = (400, 401, 404, 409, 422, 503, 507)
INCLUDE = _query("include[]", {"type": "array", "items": {"type": "string"}}, "accepted, ignored")
EXPECTED = _query("expected_version", {"type": "integer", "minimum": 0})
IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
    "description": "a retry with the same key and body answers as the first attempt did",
}  # fmt: skip
LIMIT = _query("limit", {"type": "integer", "minimum": 1}, "at most THREADKEEPER_MAX_PAGE")
CURSOR = _query("cursor", {"type": "string"}, "the `next` of the previous page")
ORDER = _query("order", {"type": "string", "enum": list(ORDERS)})
TEXT = ("text/plain", {"type": "string"})
HEADERS = {
    "Location": {"type": "string"},
    "Threadkeeper-Source": {"type": "string", "enum": ["redis", "archive"]},
    "Threadkeeper-Degraded": {"type": "string"},
    "Idempotent-Replayed": {"type": "string", "enum": ["true"]},
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/v1/threads", "post"): Operation(
        "Create a thread", {201: shapes.ThreadView, 200: shapes.ThreadView}, shapes.NewThread,
        (IDEMPOTENCY,), (403, 409), headers={201: ("Location",), 200: ("Location",)},
    ),
    ("/v1/threads", "get"): Operation(
        "List the tenant's threads, newest first", {200: shapes.ThreadList}, None,
        (LIMIT, CURSOR, _query("tool", {"type": "string"}),
         _query("updated_after", {"type": "string", "format": "date-time"}),
         _query("updated_before", {"type": "string", "format": "date-time"}),
         _query("prefix", {"type": "string", "maxLength": MAX_ID}),
         _query("user_id", {"type": "string", "pattern": ID_REGEX},
                "the threads this user owns (a user token: its own only, else 403)"),
         _query("metadata.{key}", {"type": "string"},
                "repeatable, all must hold: threads whose top-level metadata `key` is this "
                "value (a string as is, else compact JSON), e.g. metadata.project=apollo")),
        (403,),
    ),
    ("/v1/search", "get"): Operation(
        "Full-text search of the caller's threads (a user token: its own), hot and "
        "archived: one hit per turn, best first", {200: shapes.SearchResults}, None,
        ({**_query("q", {"type": "string", "minLength": 1},
                   'words, "phrases" and prefix* (all must match); at most '
                   "THREADKEEPER_MAX_SEARCH_QUERY characters"), "required": True},
         _query("limit", {"type": "integer", "minimum": 1},
                "at most THREADKEEPER_MAX_SEARCH_RESULTS"),
         CURSOR, _query("tool", {"type": "string"}),
         _query("updated_after", {"type": "string", "format": "date-time"}),
         _query("updated_before", {"type": "string", "format": "date-time"}),
         _query("user_id", {"type": "string", "pattern": ID_REGEX},
                "the turns of threads this user owns (a user token: its own only, else 403)")),
        (403,),
    ),
    ("/v1/threads/{thread_id}", "get"): Operation(
        "Read a page of a thread (rehydrated from the archive if needed)",
        {200: shapes.ThreadView}, None,
        (LIMIT, CURSOR, ORDER,
         _query("after", {"type": "integer", "minimum": 0}),
         _query("before", {"type": "integer", "minimum": 1})),
        (409, 502), headers={200: ("Threadkeeper-Source", "Threadkeeper-Degraded")},
    ),
    ("/v1/threads/{thread_id}", "delete"): Operation(
        "Delete from both tiers, leaving a tombstone", {204: None}
    ),
    ("/v1/threads/{thread_id}/turns", "post"): Operation(
        "Append turns", {201: shapes.AppendedTurns, 200: shapes.AppendedTurns},
        shapes.NewTurns, (IDEMPOTENCY,), (409, 502), headers={200: ("Idempotent-Replayed",)},
    ),
    ("/v1/threads/{thread_id}/fork", "post"): Operation(
        "Fork at a turn into a new thread", {201: shapes.ThreadView}, shapes.ForkRequest,
        (), (409, 502), headers={201: ("Location",)},
    ),
    ("/v1/threads/{thread_id}/context", "get"): Operation(
        "The newest turns that fit a token budget, oldest first", {200: shapes.ThreadContext},
        None, ({**_query("max_tokens", {"type": "integer", "minimum": 1}), "required": True},),
        (409, 502), headers={200: ("Threadkeeper-Source", "Threadkeeper-Degraded")},
    ),
    ("/v1/threads/{thread_id}/archive", "post"): Operation(
        "Archive now: 202 with the job queued, or with wait=true 200 once verified",
        {202: shapes.ArchiveQueued, 200: shapes.ArchiveDone}, None,
        (_query("wait", {"type": "string", "enum": ["true", "false"]}),), (409, 502),
    ),
    ("/v1/threads/{thread_id}/rehydrate", "post"): Operation(
        "Bring an archived thread back into Redis", {200: shapes.RehydrateDone}, None, (),
        (409, 502), headers={200: ("Threadkeeper-Degraded",)},
    ),
    ("/v1/threads/{thread_id}", "patch"): Operation(
        "Change the title, metadata and/or owner (user_id: a tenant-wide token only)",
        {200: openai.ThreadUpdated}, openai.ThreadPatch, (), (403, 409, 502),
    ),
    ("/v1/threads/{thread_id}/turns/{seq}", "patch"): Operation(
        "Edit one turn's content and/or metadata (keeps its seq)", {200: openai.TurnChanged},
        openai.TurnPatch, (), (409, 502),
    ),
    ("/v1/threads/{thread_id}/turns/{seq}", "delete"): Operation(
        "Delete one turn (the others keep their seqs)", {200: openai.TurnChanged}, None,
        (EXPECTED,), (409, 502),
    ),
    ("/v1/threads/{thread_id}/checkpoints", "post"): Operation(
        "LangGraph: store a checkpoint (one turn; the thread is created by the first)",
        {201: checkpoints.CheckpointStored}, checkpoints.CheckpointPut, (), (409,),
    ),
    ("/v1/threads/{thread_id}/checkpoints", "get"): Operation(
        "LangGraph: list checkpoints, newest first, with their values and pending writes",
        {200: checkpoints.CheckpointList}, None,
        (_query("ns", {"type": "string"}, "the namespace ('' = the root graph)"),
         _query("all_ns", {"type": "string", "enum": ["true", "false"]}, "every namespace"),
         _query("before", {"type": "string"}, "a checkpoint id: only older ones"),
         _query("metadata", {"type": "string"}, "a JSON object: metadata pairs to match"),
         LIMIT), (409, 502),
    ),
    ("/v1/threads/{thread_id}/checkpoint", "get"): Operation(
        "LangGraph: one checkpoint (the namespace's newest without an id)",
        {200: checkpoints.CheckpointOut}, None,
        (_query("ns", {"type": "string"}), _query("id", {"type": "string"})), (409, 502),
    ),
    ("/v1/threads/{thread_id}/checkpoints/writes", "post"): Operation(
        "LangGraph: store a task's pending writes (idempotent per task and index)",
        {201: checkpoints.WritesStored}, checkpoints.WritesPut, (), (409,),
    ),
    ("/v1/threads/{thread_id}/checkpoints/copy", "post"): Operation(
        "LangGraph: copy the thread's checkpoints and writes to another thread",
        {200: checkpoints.Counted}, checkpoints.CopyRequest, (), (409, 502),
    ),
    ("/v1/threads/{thread_id}/checkpoints/prune", "post"): Operation(
        "LangGraph: keep each namespace's newest checkpoint, or delete the thread",
        {200: checkpoints.Counted}, checkpoints.PruneRequest, (), (409, 502),
    ),
    ("/v1/checkpoints/delete-runs", "post"): Operation(
        "LangGraph: drop the tenant's checkpoints made by the given runs",
        {200: checkpoints.Counted}, checkpoints.RunsDelete, (), (409, 502),
    ),
    ("/v1/conversations", "post"): Operation(
        "OpenAI: create a conversation", {200: openai.Conversation}, openai.ConversationCreate,
        (IDEMPOTENCY, INCLUDE), openai=True,
    ),
    ("/v1/conversations/{conversation_id}", "get"): Operation(
        "OpenAI: retrieve a conversation", {200: openai.Conversation}, openai=True
    ),
    ("/v1/conversations/{conversation_id}", "post"): Operation(
        "OpenAI: update a conversation's metadata", {200: openai.Conversation},
        openai.ConversationUpdate, openai=True,
    ),
    ("/v1/conversations/{conversation_id}", "delete"): Operation(
        "OpenAI: delete a conversation", {200: openai.ConversationDeleted}, openai=True
    ),
    ("/v1/conversations/{conversation_id}/items", "post"): Operation(
        "OpenAI: add items", {200: openai.ItemList}, openai.ItemsCreate,
        (IDEMPOTENCY, INCLUDE), openai=True,
    ),
    ("/v1/conversations/{conversation_id}/items", "get"): Operation(
        "OpenAI: list items", {200: openai.ItemList}, None,
        (_query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
         ORDER,
         _query("after", {"type": "string"}, "the last item id of the previous page"),
         INCLUDE), openai=True, headers={200: ("Threadkeeper-Degraded",)},
    ),
    ("/v1/conversations/{conversation_id}/items/{item_id}", "get"): Operation(
        "OpenAI: retrieve an item", {200: ("application/json", {"type": "object"})},
        None, (INCLUDE,), openai=True,
    ),
    ("/v1/conversations/{conversation_id}/items/{item_id}", "delete"): Operation(
        "OpenAI: delete an item; answers the conversation", {200: openai.Conversation},
        openai=True,
    ),
    ("/v1/health", "get"): Operation(
        "The restart-survival report", {200: shapes.HealthReport}, tenant=False
    ),
    ("/healthz", "get"): Operation("Liveness", {200: shapes.Liveness}, tenant=False),
    ("/readyz", "get"): Operation(
        "Readiness: Redis answers and the archive is reachable",
        {200: shapes.Readiness, 503: shapes.Readiness}, tenant=False,
    ),
    ("/metrics", "get"): Operation("Prometheus metrics", {200: TEXT}, tenant=False),
    ("/", "get"): Operation(
        "Links to the API (a browser, asking for text/html, is sent to the console at /ui)",
        {200: ("application/json", {"type": "object"})}, tenant=False,
    ),
    ("/mcp", "post"): Operation(
        "MCP over streamable HTTP (stateless, JSON answers): a JSON-RPC 2.0 message in, its "
        "answer out; the tools and resources are in docs/MCP.md",
        {200: ("application/json", {"type": "object"})},
    ),
    ("/openapi.json", "get"): Operation(
        "This document", {200: ("application/json", {"type": "object"})}, tenant=False
    ),
}  # fmt: skip


def _shapes() -> list[Any]:
    found = [shapes.Turn, shapes.Problem, openai.OpenAIError]
    for op in OPERATIONS.values():
        for shape in (op.body, *op.responses.values()):
            if shape is not None and not isinstance(shape, tuple) and shape not in found:
                found.append(shape)
    return found


def _response(status: int, shape: Any, op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": str(status)}
    if shape is not None:
        media, schema = shape if isinstance(shape, tuple) else ("application/json", refs[id(shape)])
        answer["content"] = {media: {"schema": schema}}
    if op.headers.get(status):
        answer["headers"] = {h: {"schema": HEADERS[h]} for h in op.headers[status]}
    return answer


def _operation(path: str, op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": refs[id(shapes.Problem)]}}
    if op.openai:
        problem = {"application/json": {"schema": refs[id(openai.OpenAIError)]}}
    statuses = (*PROBLEM_STATUSES, *op.problems) if op.tenant else (500,)
    if op.openai:
        statuses = OPENAI_STATUSES
    responses = {str(s): _response(s, shape, op, refs) for s, shape in op.responses.items()}
    responses |= {str(s): {"description": "problem", "content": problem} for s in statuses}
    spec: dict[str, Any] = {"summary": op.summary, "responses": responses}
    params = [p for name, p in PATH_PARAMS.items() if name in path] + list(op.params)
    if params:
        spec["parameters"] = params
    if op.body is not None:
        content = {"application/json": {"schema": refs[id(op.body)]}}
        spec["requestBody"] = {"required": True, "content": content}
    spec["security"] = [{"bearer": []}, {}] if op.tenant else []
    return spec


@cache
def openapi_document() -> dict[str, Any]:
    kinds = _shapes()
    schemas, components = msgspec.json.schema_components(kinds, ref_template=REF)
    refs = {id(kind): schema for kind, schema in zip(kinds, schemas, strict=True)}
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), op in OPERATIONS.items():
        paths.setdefault(path, {})[method] = _operation(path, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "threadkeeper", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": AUTH_NOTE}
            },  # fmt: skip
        },
    }
