"""Pages of turns and of threads, and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from threadkeeper.errors import InvalidInput
from threadkeeper.models import ORDERS, Order

DEFAULT_PAGE = 50  # turns or threads, when a request names no limit


@dataclass(frozen=True, slots=True)
class TurnWindow:
    """Which turns to read: seqs strictly between `after` and `before`, in `order`."""

    order: Order = "asc"
    after: int | None = None
    before: int | None = None
    limit: int = DEFAULT_PAGE

    def next_after(self, last_seq: int) -> TurnWindow:
        if self.order == "asc":
            return TurnWindow(self.order, last_seq, self.before, self.limit)
        return TurnWindow(self.order, self.after, last_seq, self.limit)

    def redis_range(self) -> tuple[str, str]:
        """(min, max) stream IDs, exclusive where bounded."""
        low = "-" if self.after is None else f"(0-{self.after}"
        high = "+" if self.before is None else f"(0-{self.before}"
        return low, high

    def encode(self) -> str:
        return _encode({"k": "t", "o": self.order, "a": self.after, "b": self.before})

    @classmethod
    def decode(cls, cursor: str, limit: int) -> TurnWindow:
        data = _decode(cursor, "t")
        if data.get("o") not in ORDERS:
            raise _bad_cursor()
        return cls(data["o"], _opt_int(data.get("a")), _opt_int(data.get("b")), limit)


@dataclass(frozen=True, slots=True)
class ThreadQuery:
    """Which threads to list: newest first, strictly after the (score, id) of the last seen.

    `prefix` keeps threads whose id, or whose title (ignoring case), starts with it;
    `updated_before` keeps those last active strictly before it; `user_id` those that
    user owns; `metadata` those whose top-level metadata holds every (key, value) pair
    (a value compared as its text: a string as is, anything else as compact JSON).
    """

    limit: int = DEFAULT_PAGE
    tool: str | None = None
    updated_after: int | None = None
    last_score: int | None = None
    last_id: str | None = None
    updated_before: int | None = None
    prefix: str | None = None
    user_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def filtered(self) -> bool:
        """True when rows are dropped by what they hold, not only by their place in the index."""
        return self.tool is not None or self.prefix is not None or self.owned_filter

    @property
    def owned_filter(self) -> bool:
        """True when the page filters by owner or metadata (judged on the whole hash)."""
        return self.user_id is not None or bool(self.metadata)

    def keeps_owned(self, user_id: str | None, metadata: dict[str, Any]) -> bool:
        if self.user_id is not None and user_id != self.user_id:
            return False
        return all(
            key in metadata and metadata_text(metadata[key]) == value
            for key, value in self.metadata
        )

    def keeps(self, thread_id: str, title: str | None, tool: str | None) -> bool:
        if self.tool is not None and tool != self.tool:
            return False
        if self.prefix is None:
            return True
        return thread_id.startswith(self.prefix) or (title or "").casefold().startswith(
            self.prefix.casefold()
        )

    def encode(self, score: int, thread_id: str) -> str:
        data: dict[str, Any] = {
            "k": "l", "s": score, "i": thread_id, "t": self.tool, "u": self.updated_after,
        }  # fmt: skip
        if self.updated_before is not None:
            data["b"] = self.updated_before
        if self.prefix is not None:
            data["p"] = self.prefix
        if self.user_id is not None:
            data["o"] = self.user_id
        if self.metadata:
            data["m"] = [list(pair) for pair in self.metadata]
        return _encode(data)

    @classmethod
    def decode(cls, cursor: str, limit: int) -> ThreadQuery:
        data = _decode(cursor, "l")
        if not isinstance(data.get("i"), str):
            raise _bad_cursor()
        tool, prefix, owner = data.get("t"), data.get("p"), data.get("o")
        return cls(
            limit,
            tool if isinstance(tool, str) else None,
            _opt_int(data.get("u")),
            _opt_int(data.get("s")),
            data["i"],
            _opt_int(data.get("b")),
            prefix if isinstance(prefix, str) else None,
            owner if isinstance(owner, str) else None,
            _pairs(data.get("m", [])),
        )


def metadata_text(value: Any) -> str:
    """A metadata value as a filter compares it: a string as is, else its compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
    ):
        raise _bad_cursor()
    return tuple((p[0], p[1]) for p in value)


def _encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except ValueError:
        raise _bad_cursor() from None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise _bad_cursor()
    return data


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**53:
        raise _bad_cursor()
    return value


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not one this server issued: pass back the `next` value of the previous "
        "page unchanged, or start again without a cursor",
        field="cursor",
    )
