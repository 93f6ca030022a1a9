"""What the sync and async clients share: the calls as data, the retry policy, the answers.

Each public method builds a `Call`; the two clients only differ in how they send it.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from threadkeeper.client._errors import ThreadkeeperError, Unavailable, error_from_problem
from threadkeeper.client._types import Appended, Order

DEFAULT_URL = "http://127.0.0.1:8750"
# The server's id rule (keys.ID_PATTERN), which this client cannot import: one test
# (tests/client/test_copies.py) fails if the two copies ever differ.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
RETRY_STATUSES = frozenset({502, 503, 504})
TurnInput = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Retries:
    """How often and how patiently a call is retried: exponential backoff with jitter."""

    attempts: int = 5
    backoff: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class Call:
    """One request. `safe`: resending it cannot do it twice (a read, or a write with a key)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    safe: bool = True
    write: bool = False


def base_url(url: str | None) -> str:
    return (url or os.environ.get("THREADKEEPER_URL") or DEFAULT_URL).rstrip("/")


def auth_headers(token: str | None) -> dict[str, str]:
    token = token if token is not None else os.environ.get("THREADKEEPER_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _path(thread_id: str, tail: str = "") -> str:
    return f"/v1/threads/{quote(thread_id, safe='')}{tail}"


def _key(given: str | None) -> dict[str, str]:
    return {"Idempotency-Key": given or uuid.uuid4().hex}


def _params(**values: object) -> dict[str, str]:
    return {name: _param(value) for name, value in values.items() if value is not None}


def _param(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_call(
    id: str | None, title: str | None, tool: str | None, metadata: Mapping[str, Any] | None,
    turns: Sequence[TurnInput] | None, idempotency_key: str | None, user_id: str | None = None,
) -> Call:  # fmt: skip
    body: dict[str, Any] = {"turns": [dict(t) for t in turns or []]}
    named = (("id", id), ("title", title), ("tool", tool), ("metadata", metadata),
             ("user_id", user_id))  # fmt: skip
    for name, value in named:
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    return Call("POST", "/v1/threads", body=body, headers=_key(idempotency_key), write=True)


def append_call(
    thread_id: str, turns: Sequence[TurnInput], expected_version: int | None, key: str | None
) -> Call:
    body: dict[str, Any] = {"turns": [dict(t) for t in turns]}
    if expected_version is not None:
        body["expected_version"] = expected_version
    return Call("POST", _path(thread_id, "/turns"), body=body, headers=_key(key), write=True)


def page_call(
    thread_id: str, order: Order, after: int | None, before: int | None, limit: int | None,
    cursor: str | None,
) -> Call:  # fmt: skip
    if cursor:
        return Call("GET", _path(thread_id), _params(cursor=cursor, limit=limit))
    params = _params(order=order, after=after, before=before, limit=limit)
    return Call("GET", _path(thread_id), params)


@dataclass(frozen=True, slots=True)
class ThreadFilter:
    """What `threads()` lists: by tool, id or title prefix, last update (exclusive), owner,
    and top-level metadata values (every pair must hold)."""

    tool: str | None = None
    prefix: str | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    user_id: str | None = None
    metadata: Mapping[str, Any] | None = None


def list_call(filters: ThreadFilter, limit: int | None, cursor: str | None) -> Call:
    if cursor:  # the cursor carries the filters of the page that issued it
        return Call("GET", "/v1/threads", _params(cursor=cursor, limit=limit))
    f = filters
    params = _params(tool=f.tool, prefix=f.prefix, updated_after=f.updated_after,
                     updated_before=f.updated_before, user_id=f.user_id, limit=limit)  # fmt: skip
    params |= {f"metadata.{k}": _metadata_value(v) for k, v in (f.metadata or {}).items()}
    return Call("GET", "/v1/threads", params)


def _metadata_value(value: object) -> str:
    """As the server compares it: a string as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What `search()` narrows to: a tool, the thread's last update (exclusive), and its
    owner (a user token searches its own threads whatever this says)."""

    tool: str | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    user_id: str | None = None


def search_call(q: str, filters: SearchFilter, limit: int | None, cursor: str | None) -> Call:
    f = filters
    params = _params(q=q, tool=f.tool, updated_after=f.updated_after,
                     updated_before=f.updated_before, user_id=f.user_id, limit=limit,
                     cursor=cursor)  # fmt: skip
    return Call("GET", "/v1/search", params)


def fork_call(thread_id: str, at_seq: int, new_id: str | None) -> Call:
    body: dict[str, Any] = {"at_seq": at_seq}
    if new_id is not None:
        body["id"] = new_id
    # Without a chosen id a resent fork could make two threads: retried only when unsent.
    return Call("POST", _path(thread_id, "/fork"), body=body, safe=new_id is not None, write=True)


def context_call(thread_id: str, max_tokens: int) -> Call:
    return Call("GET", _path(thread_id, "/context"), _params(max_tokens=max_tokens))


def delete_call(thread_id: str) -> Call:
    # A resent delete would answer 404 (deleted) for a delete that worked: retried only unsent.
    return Call("DELETE", _path(thread_id), safe=False, write=True)


def archive_call(thread_id: str, wait: bool) -> Call:
    return Call("POST", _path(thread_id, "/archive"), _params(wait=wait or None), write=True)


def rehydrate_call(thread_id: str) -> Call:
    return Call("POST", _path(thread_id, "/rehydrate"), write=True)


def raw_call(method: str, path: str, params: Mapping[str, object] | None, body: Any) -> Call:
    """Any route by its path (docs/API.md). Only for routes whose resend is harmless."""
    values = {name: _param(value) for name, value in (params or {}).items() if value is not None}
    return Call(method, path, params=values, body=body, write=method != "GET")


def health_call() -> Call:
    return Call("GET", "/v1/health")


def appended(response: httpx.Response) -> Appended:
    body = response.json()
    replayed = response.headers.get("idempotent-replayed") == "true"
    return Appended([int(s) for s in body["seqs"]], int(body["version"]), replayed)


# -- the retry decision, the same for both clients -------------------------------------


def retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


# 503s that last longer than a call's retries: the search index is being built (minutes);
# the caller hears it at once and decides (the MCP `search` tool falls back to listing).
LASTING = ("search-unavailable",)


def should_retry_answer(call: Call, response: httpx.Response) -> bool:
    if response.status_code == 429:
        return retry_after(response) is not None
    if not (call.safe and response.status_code in RETRY_STATUSES):
        return False
    return problem_slug(response) not in LASTING


def problem_slug(response: httpx.Response) -> str:
    """The problem's `type` slug (its last path part), '' when the body is not a problem."""
    if "problem+json" not in response.headers.get("content-type", ""):
        return ""
    try:
        problem = response.json()
    except ValueError:
        return ""
    kind = problem.get("type", "") if isinstance(problem, dict) else ""
    return str(kind).rpartition("/")[2]


def should_retry_error(call: Call, exc: httpx.TransportError) -> bool:
    # A refused connection never reached the server; anything later may have.
    return call.safe or isinstance(exc, httpx.ConnectError)


def error_for_answer(call: Call, response: httpx.Response) -> ThreadkeeperError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"detail": f"HTTP {response.status_code}: {response.text[:200]}"}
    return error_from_problem(response.status_code, problem, write=call.write)


def error_for_transport(call: Call, url: str, exc: httpx.TransportError) -> Unavailable:
    unsent = isinstance(exc, httpx.ConnectError)
    detail = f"{call.method} {url}{call.path}: {type(exc).__name__}: {exc or 'no answer'}"
    if call.write and not unsent:
        detail += "; the write may have landed: resend it with the same Idempotency-Key"
    return Unavailable(detail, outcome_unknown=call.write and not unsent)
