"""Pages decoded by msgspec straight from the response bytes into the client's records.

A page of 1,000 turns is ~580 kB of JSON: `json.loads` into dicts and a record built
from each took 14 ms, more than Redis takes to read the stream; msgspec fills the
same frozen dataclasses in C (RFC 3339 times too) in 1.4 ms. A body the typed
decode refuses (a null where a list belongs, a field missing) takes the old,
lenient path, so what the client accepts is unchanged. The client needs only
httpx: where msgspec is not installed (it is with threadkeeper), every body takes
that path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from threadkeeper.client._types import Context, Page

Answer = TypeVar("Answer", Page, Context)

try:
    import msgspec
except ImportError:  # pragma: no cover - the client beside httpx alone
    _typed: dict[type, Callable[[bytes], Any]] = {}
    _refused: tuple[type[Exception], ...] = ()
else:
    _typed = {answer: msgspec.json.Decoder(answer).decode for answer in (Page, Context)}
    _refused = (msgspec.DecodeError,)


def page(body: bytes) -> Page:
    return _decoded(Page, body, Page.from_json)


def context(body: bytes) -> Context:
    return _decoded(Context, body, Context.from_json)


def _decoded(answer: type[Answer], body: bytes, lenient: Callable[[Any], Answer]) -> Answer:
    typed = _typed.get(answer)
    if typed is None:
        return lenient(json.loads(body))
    try:
        found: Answer = typed(body)
    except _refused:
        return lenient(json.loads(body))
    if found.missing_turns is None:
        return found
    return replace(found, thread=replace(found.thread, missing_turns=found.missing_turns))
