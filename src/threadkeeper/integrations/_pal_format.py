"""PAL's thread JSON to threadkeeper turns and back, field for field.

A PAL blob (`ThreadContext.model_dump_json()`) becomes one threadkeeper thread:

- the thread: `id` = PAL's `thread_id`, `tool` = its `tool_name`, and `metadata.pal` =
  `parent_thread_id`, `created_at`, `last_updated_at`, `tool_name` and how many turns at
  the start hold the `initial_context` (`context_turns`);
- `initial_context`, as JSON text cut into `system` turns of at most CONTEXT_CHUNK
  characters (`metadata.pal.initial_context` = [index, count]): it may be far larger
  than the thread-metadata limit (THREADKEEPER_MAX_METADATA_BYTES);
- each PAL turn, a threadkeeper turn: `role`, `content`, `files`, `images`, `tool_name`
  and `model` (PAL's `model_name`) natively, so other readers see them; `timestamp`,
  `model_provider`, `model_metadata`, any field PAL adds later, whatever the native
  fields cannot say exactly (a `None` list, an unknown role, a label too long) and the
  blob's `last_updated_at` in `metadata.pal`.

`rebuild` inverts it: the JSON PAL wrote, compact, in PAL's field order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from threadkeeper.client import Thread, Turn

CONTEXT_CHUNK = 64_000  # characters: at most 256 KB of UTF-8, well inside one turn
MAX_LABEL = 512  # threadkeeper's limit on tool_name and model
ROLES = frozenset({"user", "assistant", "system", "tool"})
THREAD_ORDER = ("thread_id", "parent_thread_id", "created_at", "last_updated_at", "tool_name",
                "turns", "initial_context")  # fmt: skip
TURN_ORDER = ("role", "content", "timestamp", "files", "images", "tool_name", "model_provider",
              "model_name", "model_metadata")  # fmt: skip
NATIVE_LISTS = ("files", "images")
_ABSENT = {"__pal_absent__": True}  # a field the blob did not have (JSON has no undefined)


def dumps(value: Any) -> str:
    """JSON as pydantic's model_dump_json writes it: compact, UTF-8 unescaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def thread_metadata(blob: Mapping[str, Any], context_turns: int) -> dict[str, Any]:
    keep = {k: blob.get(k) for k in ("parent_thread_id", "created_at", "last_updated_at",
                                     "tool_name")}  # fmt: skip
    return {"pal": {**keep, "context_turns": context_turns}}


def context_turns(initial_context: Any) -> list[dict[str, Any]]:
    text = dumps(initial_context)
    chunks = [text[i : i + CONTEXT_CHUNK] for i in range(0, len(text), CONTEXT_CHUNK)] or [""]
    return [
        {"role": "system", "content": chunk,
         "metadata": {"pal": {"initial_context": [i, len(chunks)]}}}
        for i, chunk in enumerate(chunks)
    ]  # fmt: skip


def label_fits(value: object) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_LABEL)


def _native_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def pal_turn(turn: Mapping[str, Any], last_updated_at: Any) -> dict[str, Any]:
    """One PAL turn as a threadkeeper turn (see the module docstring)."""
    role, name, model = turn.get("role"), turn.get("tool_name"), turn.get("model_name")
    native: dict[str, Any] = {"role": role if role in ROLES else "assistant",
                              "content": str(turn.get("content", ""))}  # fmt: skip
    extra = {k: v for k, v in turn.items() if k not in ("role", "content", *NATIVE_LISTS,
                                                          "tool_name", "model_name")}  # fmt: skip
    if role not in ROLES:
        extra["role"] = role
    for key in NATIVE_LISTS:
        if _native_list(turn.get(key)):
            native[key] = turn[key]
        if not _native_list(turn.get(key)) or key not in turn:
            extra[key] = turn.get(key, _ABSENT)
    for key, native_key, value in (
        ("tool_name", "tool_name", name),
        ("model_name", "model", model),
    ):
        if label_fits(value) and key in turn:
            native[native_key] = value
        else:
            extra[key] = turn.get(key, _ABSENT)
    extra["thread_last_updated_at"] = last_updated_at
    native["metadata"] = {"pal": extra}
    return native


def pal_fields(turn: Turn) -> dict[str, Any]:
    """A stored threadkeeper turn as the PAL turn it was written from."""
    extra: dict[str, Any] = dict(turn.metadata.get("pal") or {})
    extra.pop("thread_last_updated_at", None)
    fields: dict[str, Any] = {"role": extra.pop("role", turn.role), "content": turn.content}
    natives = {"files": turn.files, "images": turn.images, "tool_name": turn.tool_name,
               "model_name": turn.model}  # fmt: skip
    for key, value in natives.items():
        fields[key] = extra.pop(key, value)
    fields.update(extra)
    ordered = {k: fields[k] for k in TURN_ORDER if k in fields}
    ordered.update({k: v for k, v in fields.items() if k not in ordered})
    return {k: v for k, v in ordered.items() if v != _ABSENT}


def is_context_turn(turn: Turn) -> bool:
    pal = turn.metadata.get("pal")
    return isinstance(pal, dict) and "initial_context" in pal


def rebuild(thread: Thread, turns: Sequence[Turn]) -> str:
    """The JSON PAL wrote for this thread."""
    meta: dict[str, Any] = dict(thread.metadata.get("pal") or {})
    count = int(meta.get("context_turns", 0))
    context_text = "".join(t.content for t in turns[:count] if is_context_turn(t))
    pal_turns = list(turns[count:])
    last = meta.get("last_updated_at")
    if pal_turns:
        last = pal_turns[-1].metadata.get("pal", {}).get("thread_last_updated_at", last)
    blob = {
        "thread_id": thread.id,
        "parent_thread_id": meta.get("parent_thread_id"),
        "created_at": meta.get("created_at", thread.created_at.isoformat()),
        "last_updated_at": last or thread.updated_at.isoformat(),
        "tool_name": meta.get("tool_name", thread.tool),
        "turns": [pal_fields(t) for t in pal_turns],
        "initial_context": json.loads(context_text) if context_text else {},
    }
    return dumps(blob)
