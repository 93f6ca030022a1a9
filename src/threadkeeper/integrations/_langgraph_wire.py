"""The LangGraph saver's wire form: thread ids, request paths and parameters, listing pages,
metadata as JSON and a checkpoint's turn preview (langgraph.py holds the saver itself)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, get_checkpoint_id

from threadkeeper.client._base import ID_PATTERN

PAGE = 100  # checkpoints per listing request
MESSAGES = "messages"  # the channel whose newest message titles a checkpoint's turn
ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def thread_key(thread_id: str) -> str:
    """The threadkeeper thread id of a LangGraph thread_id: itself when it is a valid id."""
    if ID_PATTERN.fullmatch(thread_id):
        return thread_id
    return "lg-" + hashlib.sha256(thread_id.encode()).hexdigest()[:40]


def path(thread_id: str, tail: str) -> str:
    return f"/v1/threads/{thread_key(thread_id)}{tail}"


class Pages:
    """A listing followed page by page, the same for the sync and the async saver: `query`
    gives the next request's parameters (None when done), `take` reads its answer."""

    def __init__(
        self, path: str, params: dict[str, object], items: str, cursor: str, limit: int | None
    ) -> None:
        self.path, self.params, self.items, self.cursor = path, dict(params), items, cursor
        self.limit = limit
        self.done = False

    def query(self) -> dict[str, object] | None:
        if self.done or (self.limit is not None and self.limit <= 0):
            return None
        return {**self.params, "limit": PAGE if self.limit is None else min(PAGE, self.limit)}

    def take(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = answer[self.items]
        if self.limit is not None:
            self.limit -= len(found)
        self.done = not answer["next"]
        self.params[self.cursor] = answer["next"]
        return found


def thread_pages() -> Pages:
    return Pages("/v1/threads", {"tool": "langgraph"}, "threads", "cursor", None)


def config_of(thread_id: str, ns: str | None, checkpoint_id: str | None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id}
    if ns is not None:
        conf["checkpoint_ns"] = ns
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def one_checkpoint(config: RunnableConfig) -> tuple[str, dict[str, object]]:
    conf = config["configurable"]
    params: dict[str, object] = {"ns": conf.get("checkpoint_ns", "")}
    if checkpoint_id := get_checkpoint_id(config):
        params["id"] = checkpoint_id
    return conf["thread_id"], params


def listing_query(
    config: RunnableConfig, filter: dict[str, Any] | None, before: RunnableConfig | None
) -> tuple[str, dict[str, object]]:
    conf = config["configurable"]
    ns = conf.get("checkpoint_ns")
    params: dict[str, object] = {"all_ns": "true"} if ns is None else {"ns": ns}
    if filter:
        params["metadata"] = json.dumps(jsonable(filter))
    if before is not None and (before_id := get_checkpoint_id(before)):
        params["before"] = before_id
    return conf["thread_id"], params


def matches(metadata: Mapping[str, Any], wanted: dict[str, Any] | None) -> bool:
    return not wanted or all(metadata.get(k) == v for k, v in wanted.items())


def jsonable(value: Any) -> Any:
    """Metadata as JSON (the server filters on it): what JSON cannot hold becomes its repr."""
    return json.loads(json.dumps(value, default=repr))


def preview(messages: Any, channel: str, new_versions: ChannelVersions) -> dict[str, str] | None:
    """The newest message of a messages channel this checkpoint changed, as text."""
    if channel not in new_versions or not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    role = ROLES.get(getattr(last, "type", ""))
    if role is None:
        return None
    content = getattr(last, "content", "")
    if isinstance(content, list):  # content blocks: their text
        content = " ".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return {"role": role, "content": str(content)}
