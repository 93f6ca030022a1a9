"""OpenAI conversation items <-> threadkeeper turns.

An item is kept verbatim inside its turn (stored field `item`), normalized the way
OpenAI answers it: a message's string content becomes one text part, `status` is
filled where OpenAI has one. The turn's own fields are what a native reader needs
(role, readable content, tool name). An item sent without an id gets one made from
its seq (`msg_tk7`), so ids are stable and need no index; an id the client sends is
kept, unless it has that form (refused: it would name another item's seq). A native
turn reads as a message whose id is made the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from threadkeeper.errors import InvalidInput, LimitExceeded
from threadkeeper.settings import Limits
from threadkeeper.wire.decode import check_storable, check_turn_size
from threadkeeper.wire.numbers import MAX_SEQ, parse_whole
from threadkeeper.wire.openai import ItemTurn
from threadkeeper.wire.shapes import MAX_LABEL

PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco",
            "reasoning": "rs"}  # fmt: skip
MADE_ID = re.compile(r"[a-z]+_tk([1-9][0-9]*)")
MESSAGE_ROLES = ("user", "assistant", "system", "developer")
TURN_ROLE = {"developer": "system"}  # the native roles are user, assistant, system, tool
STATUS_DEFAULTS = {"message": "completed", "function_call": "completed",
                   "function_call_output": "completed"}  # fmt: skip
MAX_ITEM_ID = 128


def made_id(item_type: str, seq: int) -> str:
    return f"{PREFIXES.get(item_type, 'item')}_tk{seq}"


def seq_in_id(item_id: str) -> int | None:
    """The seq a made id names, or None for an id the client chose."""
    match = MADE_ID.fullmatch(item_id)
    if match is None:
        return None
    try:
        return parse_whole(match.group(1), "item seq", low=1, high=MAX_SEQ)
    except InvalidInput:
        return None  # past any seq: no item of ours


def public_item(item: dict[str, Any], seq: int) -> dict[str, Any]:
    """A stored item as OpenAI shows it: with its id."""
    if "id" in item:
        return item
    return {"id": made_id(str(item["type"]), seq), **item}


def item_of_turn(turn: dict[str, Any]) -> dict[str, Any]:
    """Any turn (from this API or native) as an item."""
    item = turn.get("item")
    if isinstance(item, dict):
        return public_item(item, turn["seq"])
    role = turn["role"]
    part: dict[str, Any] = (
        {"type": "output_text", "text": turn["content"], "annotations": []}
        if role == "assistant"
        else {"type": "input_text", "text": turn["content"]}
    )
    return {"id": made_id("message", turn["seq"]), "type": "message", "status": "completed",
            "role": role, "content": [part]}  # fmt: skip


# -- input ------------------------------------------------------------------------


def _bad(message: str, param: str) -> InvalidInput:
    return InvalidInput(message, field=param)


def _string(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _bad(f"{where}.{name} must be a string", f"{where}.{name}")
    return value


def _part(raw: object, role: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise _bad(f"{where} must be an object with a string 'type'", where)
    part = dict(raw)
    if part["type"] in ("input_text", "output_text"):
        _string(part, "text", where)
    if part["type"] == "output_text":
        part.setdefault("annotations", [])
    elif part["type"] == "input_image":
        part.setdefault("detail", "auto")
    return part


def _message(obj: dict[str, Any], where: str) -> dict[str, Any]:
    role = obj.get("role")
    if role not in MESSAGE_ROLES:
        raise _bad(f"{where}.role is {role!r}; use one of {', '.join(MESSAGE_ROLES)}",
                   f"{where}.role")  # fmt: skip
    content = obj.get("content")
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        parts = [_part({"type": kind, "text": content}, role, where)]
    elif isinstance(content, list):
        parts = [_part(p, role, f"{where}.content[{i}]") for i, p in enumerate(content)]
    else:
        raise _bad(f"{where}.content must be a string or a list of parts", f"{where}.content")
    return {**obj, "type": "message", "content": parts}


def _checked_fields(item: dict[str, Any], where: str) -> None:
    kind = item["type"]
    if kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            _string(item, name, where)
    elif kind == "function_call_output":
        _string(item, "call_id", where)
        if not isinstance(item.get("output"), str | list):
            raise _bad(f"{where}.output must be a string or a list", f"{where}.output")
    elif kind == "reasoning" and not isinstance(item.get("summary"), list):
        raise _bad(f"{where}.summary must be a list", f"{where}.summary")


def _check_client_id(item_id: object, where: str) -> None:
    """A client's own id: never one of the form the server gives (`msg_tk7`), which
    names a seq and would be found as that seq's item instead of this one."""
    if not (isinstance(item_id, str) and 0 < len(item_id) <= MAX_ITEM_ID):
        raise _bad(f"{where} must be a string of 1-{MAX_ITEM_ID} characters", where)
    if MADE_ID.fullmatch(item_id):
        raise _bad(
            f"{where} {item_id!r} has the form of the ids the server gives items "
            "(<type>_tk<seq>, like msg_tk7): choose another id, or send none to be given one",
            where,
        )


def check_item(raw: object, where: str) -> dict[str, Any]:
    """One input item, normalized as OpenAI answers it (not yet size-checked)."""
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be an object", where)
    if raw.get("type", "message") == "message":
        item = _message(raw, where)
    elif isinstance(raw.get("type"), str):
        item = dict(raw)
    else:
        raise _bad(f"{where}.type must be a string", f"{where}.type")
    _checked_fields(item, where)
    if "id" in item:
        _check_client_id(item["id"], f"{where}.id")
    default = STATUS_DEFAULTS.get(item["type"])
    if default is not None and item.get("status") is None:
        item["status"] = default
    return item


def check_items(raw: list[Any] | None, limits: Limits) -> list[ItemTurn]:
    """The request's items as turns to append, each checked against the limits."""
    if raw is None:
        return []
    if len(raw) > limits.max_items_per_request:
        raise LimitExceeded(
            f"{len(raw)} items in one request; the limit is {limits.max_items_per_request} "
            "(THREADKEEPER_MAX_ITEMS_PER_REQUEST): send them in several requests",
            field="items",
            limit=limits.max_items_per_request,
            setting="THREADKEEPER_MAX_ITEMS_PER_REQUEST",
        )
    items = [check_item(x, f"items[{i}]") for i, x in enumerate(raw)]
    ids = [x["id"] for x in items if "id" in x]
    if len(ids) != len(set(ids)):
        raise _bad("two items of this request share an id: item ids must be unique", "items")
    return [_turn(x, limits, f"items[{i}]") for i, x in enumerate(items)]


def _turn(item: dict[str, Any], limits: Limits, where: str) -> ItemTurn:
    check_turn_size(check_storable(item, where), limits, where, per="item (as JSON)")
    role, content, tool = _readable(item)
    return ItemTurn(role=role, content=content, tool_name=tool, item=item)  # type: ignore[arg-type]


def _text_of(parts: list[Any], *fields: str) -> str:
    texts = (p.get(f) for p in parts if isinstance(p, dict) for f in fields)
    return "\n".join(t for t in texts if isinstance(t, str))


def _readable(item: dict[str, Any]) -> tuple[str, str, str | None]:
    """(role, content, tool name) for native readers of the item's turn."""
    kind = item["type"]
    if kind == "message":
        role = str(item["role"])
        return TURN_ROLE.get(role, role), _text_of(item["content"], "text", "refusal"), None
    if kind == "function_call":
        name = item["name"] if len(item["name"]) <= MAX_LABEL else None
        return "assistant", item["arguments"], name
    if kind == "function_call_output":
        output = item["output"]
        return "tool", output if isinstance(output, str) else _text_of(output, "text"), None
    if kind == "reasoning":
        return "assistant", _text_of(item["summary"], "text"), None
    return "assistant", json.dumps(item, ensure_ascii=False), None
