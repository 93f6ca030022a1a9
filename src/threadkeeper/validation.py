"""Checks on everything a client sends, before anything is written.

Each failure names the field, the limit and the setting that changes it, so the
caller knows what to fix. Nothing here touches Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from threadkeeper.errors import InvalidInput, LimitExceeded
from threadkeeper.keys import ID_PATTERN
from threadkeeper.models import Role
from threadkeeper.settings import Limits

TURN_FIELDS = {"role", "content", "tool_name", "model", "files", "images", "metadata", "tokens"}
TURN_READONLY = {"seq", "created_at"}  # echoed back from a read; accepted and ignored
CREATE_FIELDS = {"id", "title", "tool", "metadata", "turns"}
APPEND_FIELDS = {"turns", "expected_version"}
FORK_FIELDS = {"at_seq", "id"}
MAX_LABEL = 512  # title, tool, model, tool_name
MAX_TOKENS = 2**53  # any real count; keeps the value inside what a snapshot can hold


@dataclass(frozen=True, slots=True)
class NewThread:
    id: str | None
    title: str | None
    tool: str | None
    metadata: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewTurns:
    turns: list[dict[str, Any]]
    expected_version: int | None


def check_id(value: object, what: str = "thread id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid: use 1-128 characters of A-Z, a-z, 0-9, '_' and '-'",
            field="id",
        )
    return value


def _object(body: object, allowed: set[str], what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput(f"the {what} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)} in the {what}; "
            f"allowed: {', '.join(sorted(allowed))}",
            fields=unknown,
        )
    return body


def _utf8_size(text: str, where: str) -> int:
    """Bytes as UTF-8; JSON's \\u escapes can smuggle in lone surrogates, which are not text."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{where} is not valid Unicode (an unpaired surrogate such as \\ud800): "
            "send UTF-8 text",
            field=where,
        ) from None


def _label(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{name} must be a string", field=f"{where}.{name}")
    if len(value) > MAX_LABEL:
        raise LimitExceeded(f"{where}.{name} is longer than {MAX_LABEL} characters")
    _utf8_size(value, f"{where}.{name}")
    return value


MAX_NESTING = 32
INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack, and so a snapshot, can hold


def _check_values(value: object, where: str, depth: int = 0) -> None:
    """Refuse what a snapshot could not hold: integers past 64 bits, deep nesting."""
    if depth > MAX_NESTING:
        raise InvalidInput(f"{where} nests deeper than {MAX_NESTING} levels", field=where)
    if isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InvalidInput(
            f"{where} holds the integer {value}, beyond 64 bits: send it as a string",
            field=where,
        )
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        _check_values(child, where, depth + 1)


def check_metadata(value: object, limits: Limits, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object", field=where)
    _check_values(value, where)
    size = _utf8_size(json.dumps(value, separators=(",", ":"), ensure_ascii=False), where)
    if size > limits.max_metadata_bytes:
        raise LimitExceeded(
            f"{where} is {size} bytes; the limit is {limits.max_metadata_bytes} bytes "
            "(THREADKEEPER_MAX_METADATA_BYTES)",
            field=where,
            limit=limits.max_metadata_bytes,
            setting="THREADKEEPER_MAX_METADATA_BYTES",
        )
    return value


def _string_list(obj: dict[str, Any], name: str, where: str) -> list[str]:
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{where}.{name} must be a list of strings", field=f"{where}.{name}")
    return value


def _role(obj: dict[str, Any], where: str) -> str:
    role = obj.get("role")
    if role not in {r.value for r in Role}:
        raise InvalidInput(
            f"{where}.role is {role!r}; use one of user, assistant, system, tool",
            field=f"{where}.role",
        )
    return str(role)


def _tokens(obj: dict[str, Any], where: str) -> int | None:
    tokens = obj.get("tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)):
        raise InvalidInput(f"{where}.tokens must be a whole number", field=f"{where}.tokens")
    if tokens is not None and not 0 <= tokens <= MAX_TOKENS:
        raise InvalidInput(
            f"{where}.tokens must be between 0 and {MAX_TOKENS}", field=f"{where}.tokens"
        )
    return tokens


def check_turn(raw: object, limits: Limits, where: str) -> dict[str, Any]:
    obj = _object(raw, TURN_FIELDS | TURN_READONLY, where)
    content = obj.get("content")
    if not isinstance(content, str):
        raise InvalidInput(f"{where}.content must be a string", field=f"{where}.content")
    turn = {
        "role": _role(obj, where),
        "content": content,
        "tool_name": _label(obj, "tool_name", where),
        "model": _label(obj, "model", where),
        "files": _string_list(obj, "files", where),
        "images": _string_list(obj, "images", where),
        "metadata": check_metadata(obj.get("metadata"), limits, f"{where}.metadata"),
        "tokens": _tokens(obj, where),
    }
    _check_turn_size(turn, limits, where)
    return turn


def _check_turn_size(turn: dict[str, Any], limits: Limits, where: str) -> None:
    refs = turn["files"] + turn["images"]
    size = _utf8_size(turn["content"], f"{where}.content")
    size += sum(_utf8_size(ref, f"{where}.files/images") for ref in refs)
    if size > limits.max_turn_bytes:
        raise LimitExceeded(
            f"{where} is {size} bytes; the limit is {limits.max_turn_bytes} bytes per turn "
            "(THREADKEEPER_MAX_TURN_BYTES): split the content or raise the limit",
            field=where,
            limit=limits.max_turn_bytes,
            setting="THREADKEEPER_MAX_TURN_BYTES",
        )


def check_turns(raw: object, limits: Limits, *, required: bool) -> list[dict[str, Any]]:
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or (required and not raw):
        raise InvalidInput("turns must be a non-empty list of turn objects", field="turns")
    if len(raw) > limits.max_turns:
        raise LimitExceeded(
            f"{len(raw)} turns in one request; a thread holds at most {limits.max_turns} "
            "(THREADKEEPER_MAX_TURNS)",
            limit=limits.max_turns,
            setting="THREADKEEPER_MAX_TURNS",
        )
    return [check_turn(t, limits, f"turns[{i}]") for i, t in enumerate(raw)]


def parse_new_thread(body: object, limits: Limits) -> NewThread:
    obj = _object(body, CREATE_FIELDS, "request body")
    thread_id = obj.get("id")
    return NewThread(
        id=None if thread_id is None else check_id(thread_id),
        title=_label(obj, "title", "body"),
        tool=_label(obj, "tool", "body"),
        metadata=check_metadata(obj.get("metadata"), limits, "metadata"),
        turns=check_turns(obj.get("turns"), limits, required=False),
    )


def parse_new_turns(body: object, limits: Limits) -> NewTurns:
    obj = _object(body, APPEND_FIELDS, "request body")
    expected = obj.get("expected_version")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise InvalidInput("expected_version must be a whole number", field="expected_version")
    return NewTurns(check_turns(obj.get("turns"), limits, required=True), expected)


def parse_fork(body: object) -> tuple[int, str | None]:
    obj = _object(body, FORK_FIELDS, "request body")
    at_seq = obj.get("at_seq")
    if isinstance(at_seq, bool) or not isinstance(at_seq, int) or at_seq < 0:
        raise InvalidInput("at_seq must be a whole number >= 0", field="at_seq")
    new_id = obj.get("id")
    return at_seq, None if new_id is None else check_id(new_id)
