"""The HTTP API as an OpenAPI 3.0 document (served at /openapi.json, fuzzed in tests)."""

from __future__ import annotations

from functools import cache
from typing import Any

ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}
NULLABLE_STR = {"type": "string", "nullable": True}
ROLE = {"type": "string", "enum": ["user", "assistant", "system", "tool"]}

TURN_IN = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {
        "role": ROLE,
        "content": {"type": "string"},
        "tool_name": NULLABLE_STR,
        "model": NULLABLE_STR,
        "files": {"type": "array", "items": {"type": "string"}},
        "images": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object"},
        "tokens": {"type": "integer", "minimum": 0, "nullable": True},
    },
}
TURN = {
    "type": "object",
    "required": ["seq", "role", "content", "created_at"],
    "properties": {"seq": {"type": "integer"}, **TURN_IN["properties"], "created_at": NULLABLE_STR},  # type: ignore[dict-item]
}
THREAD = {
    "type": "object",
    "required": ["id", "tenant", "created_at", "updated_at", "turn_count", "version", "state"],
    "properties": {
        "id": ID,
        "tenant": {"type": "string"},
        "title": NULLABLE_STR,
        "tool": NULLABLE_STR,
        "metadata": {"type": "object"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "turn_count": {"type": "integer"},
        "bytes": {"type": "integer"},
        "version": {"type": "integer"},
        "parent_id": NULLABLE_STR,
        "fork_seq": {"type": "integer", "nullable": True},
        "state": {"type": "string", "enum": ["hot", "archived"]},
        "archived_version": {"type": "integer"},
        "archived_at": NULLABLE_STR,
    },
}
PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = _json(schema)
    return answer


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "problem",
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
        for s in (400, 401, 404, 413, 422, 503, 507, *statuses)
    }


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PATH_ID = {"name": "thread_id", "in": "path", "required": True, "schema": ID}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255}}  # fmt: skip
VIEW = {
    "type": "object",
    "required": ["thread", "turns", "next"],
    "properties": {
        "thread": THREAD,
        "turns": {"type": "array", "items": TURN},
        "next": NULLABLE_STR,
        "missing_turns": {"type": "array", "items": {"type": "integer"}},
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            _query("cursor", {"type": "string"}, "the `next` of the previous page")]  # fmt: skip
    thread_paths: dict[str, Any] = {
        "/v1/threads": {
            "post": {
                "summary": "Create a thread",
                "parameters": [IDEMPOTENCY],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "id": ID,
                                "title": NULLABLE_STR,
                                "tool": NULLABLE_STR,
                                "metadata": {"type": "object"},
                                "turns": {"type": "array", "items": TURN_IN},
                            },
                        }
                    ),
                },  # fmt: skip
                "responses": {
                    "201": _ok("created", VIEW),
                    "200": _ok("replayed", VIEW),
                    **_problems(409),
                },
            },
            "get": {
                "summary": "List the tenant's threads, newest first",
                "parameters": [
                    *page,
                    _query("tool", {"type": "string"}),
                    _query("updated_after", {"type": "string", "format": "date-time"}),
                ],  # fmt: skip
                "responses": {
                    "200": _ok(
                        "threads",
                        {
                            "type": "object",
                            "properties": {
                                "threads": {"type": "array", "items": THREAD},
                                "next": NULLABLE_STR,
                            },
                        },
                    ),  # fmt: skip
                    **_problems(),
                },
            },
        },
        "/v1/threads/{thread_id}": {
            "parameters": [PATH_ID],
            "get": {
                "summary": "Read a thread (rehydrated from the archive if needed)",
                "parameters": [
                    *page,
                    _query("order", {"type": "string", "enum": ["asc", "desc"]}),
                    _query("after", {"type": "integer", "minimum": 0}),
                    _query("before", {"type": "integer", "minimum": 0}),
                ],  # fmt: skip
                "responses": {"200": _ok("the thread", VIEW), **_problems(409, 502)},
            },
            "delete": {
                "summary": "Delete from both tiers, leaving a tombstone",
                "responses": {"204": _ok("deleted"), **_problems()},
            },
        },
        "/v1/threads/{thread_id}/turns": {
            "parameters": [PATH_ID],
            "post": {
                "summary": "Append turns",
                "parameters": [IDEMPOTENCY],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["turns"],
                            "additionalProperties": False,
                            "properties": {
                                "turns": {"type": "array", "minItems": 1, "items": TURN_IN},
                                "expected_version": {"type": "integer"},
                            },
                        }
                    ),
                },  # fmt: skip
                "responses": {
                    "201": _ok(
                        "appended",
                        {
                            "type": "object",
                            "properties": {
                                "seqs": {"type": "array", "items": {"type": "integer"}},
                                "version": {"type": "integer"},
                            },
                        },
                    ),
                    "200": _ok("replayed"),
                    **_problems(409, 502),
                },  # fmt: skip
            },
        },
        "/v1/threads/{thread_id}/fork": {
            "parameters": [PATH_ID],
            "post": {
                "summary": "Fork at a turn",
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["at_seq"],
                            "additionalProperties": False,
                            "properties": {"at_seq": {"type": "integer", "minimum": 0}, "id": ID},
                        }
                    ),
                },  # fmt: skip
                "responses": {"201": _ok("forked", VIEW), **_problems(409, 502)},
            },
        },
        "/v1/threads/{thread_id}/context": {
            "parameters": [PATH_ID],
            "get": {
                "summary": "The newest turns that fit a token budget, oldest first",
                "parameters": [
                    {**_query("max_tokens", {"type": "integer", "minimum": 1}), "required": True}
                ],
                "responses": {"200": _ok("context"), **_problems(409, 502)},
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "threadkeeper", "version": "1"},
        "paths": {**thread_paths, **_operations_paths()},
    }


def _operations_paths() -> dict[str, Any]:
    simple = {"200": _ok("ok"), "503": _ok("not ready")}
    return {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _ok("up")}}},
        "/readyz": {"get": {"summary": "Readiness", "responses": simple}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _ok("doc")}}},
    }
