"""What the client returns: frozen records of the API's JSON shapes (docs/API.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Order = Literal["asc", "desc"]
Span = tuple[int, int]


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 string from the wire as an aware datetime; anything else as None."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _required_time(value: object) -> datetime:
    stamp = parse_time(value)
    if stamp is None:
        raise ValueError(f"expected an RFC 3339 time, got {value!r}")
    return stamp


def _span(value: object) -> Span | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


@dataclass(frozen=True, slots=True)
class Turn:
    seq: int
    role: str
    content: str
    created_at: datetime
    tool_name: str | None = None
    model: str | None = None
    files: list[Any] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tokens: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Turn:
        return cls(
            seq=int(raw["seq"]),
            role=str(raw["role"]),
            content=str(raw["content"]),
            created_at=_required_time(raw["created_at"]),
            tool_name=raw.get("tool_name"),
            model=raw.get("model"),
            files=list(raw.get("files") or []),
            images=list(raw.get("images") or []),
            metadata=dict(raw.get("metadata") or {}),
            tokens=raw.get("tokens"),
        )


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread's metadata; `missing_turns` is set when the answer was degraded."""

    id: str
    tenant: str
    title: str | None
    tool: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    turn_count: int
    bytes: int
    version: int
    parent_id: str | None
    fork_seq: int | None
    state: str
    archived_version: int
    archived_at: datetime | None
    missing_turns: Span | None = None
    user_id: str | None = None  # its owner inside the tenant (None: the tenant's)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], missing: object = None) -> Thread:
        return cls(
            id=str(raw["id"]),
            tenant=str(raw.get("tenant", "")),
            title=raw.get("title"),
            tool=raw.get("tool"),
            metadata=dict(raw.get("metadata") or {}),
            created_at=_required_time(raw["created_at"]),
            updated_at=_required_time(raw["updated_at"]),
            turn_count=int(raw.get("turn_count", 0)),
            bytes=int(raw.get("bytes", 0)),
            version=int(raw.get("version", 0)),
            parent_id=raw.get("parent_id"),
            fork_seq=raw.get("fork_seq"),
            state=str(raw.get("state", "hot")),
            archived_version=int(raw.get("archived_version", 0)),
            archived_at=parse_time(raw.get("archived_at")),
            missing_turns=_span(missing),
            user_id=raw.get("user_id"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a thread's turns; pass `next` back as `cursor` until it is None."""

    thread: Thread
    turns: list[Turn]
    next: str | None
    missing_turns: Span | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Page:
        missing = body.get("missing_turns")
        return cls(
            thread=Thread.from_json(body["thread"], missing),
            turns=[Turn.from_json(t) for t in body.get("turns") or []],
            next=body.get("next"),
            missing_turns=_span(missing),
        )


@dataclass(frozen=True, slots=True)
class ThreadList:
    """One page of a listing; pass `next` back as `cursor` until it is None (a filtered page
    may be empty with more to follow)."""

    threads: list[Thread]
    next: str | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ThreadList:
        return cls([Thread.from_json(t) for t in body.get("threads") or []], body.get("next"))


@dataclass(frozen=True, slots=True)
class Appended:
    seqs: list[int]
    version: int
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """The newest turns that fit a token budget, oldest first."""

    thread: Thread
    turns: list[Turn]
    tokens: int
    omitted: int
    missing_turns: Span | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Context:
        missing = body.get("missing_turns")
        return cls(
            thread=Thread.from_json(body["thread"], missing),
            turns=[Turn.from_json(t) for t in body.get("turns") or []],
            tokens=int(body.get("tokens", 0)),
            omitted=int(body.get("omitted", 0)),
            missing_turns=_span(missing),
        )


@dataclass(frozen=True, slots=True)
class Archived:
    """`status` queued / already_queued (with `job_id`), or the snapshot's outcome (waited)."""

    status: str
    version: int | None = None
    job_id: str | None = None
    thread: Thread | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Archived:
        thread = body.get("thread")
        return cls(
            status=str(body["status"]),
            version=body.get("version"),
            job_id=body.get("job_id"),
            thread=Thread.from_json(thread) if thread else None,
        )


@dataclass(frozen=True, slots=True)
class Rehydrated:
    status: str
    thread: Thread
    missing_turns: Span | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Rehydrated:
        missing = body.get("missing_turns")
        return cls(
            status=str(body["status"]),
            thread=Thread.from_json(body["thread"], missing),
            missing_turns=_span(missing),
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching turn (GET /v1/search): `highlights` are [start, end) spans of `snippet`."""

    thread_id: str
    seq: int
    role: str
    title: str | None
    tool: str | None
    snippet: str
    highlights: list[Span]
    score: float
    updated_at: datetime | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SearchHit:
        spans = [span for span in map(_span, raw.get("highlights") or []) if span is not None]
        return cls(thread_id=str(raw["thread_id"]), seq=int(raw["seq"]), role=str(raw["role"]),
                   title=raw.get("title"), tool=raw.get("tool"), snippet=str(raw["snippet"]),
                   highlights=spans, score=float(raw["score"]),
                   updated_at=parse_time(raw.get("updated_at")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class SearchResults:
    """One page of hits, best first; `next` is the cursor of the following page, if any."""

    hits: list[SearchHit]
    next: str | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SearchResults:
        return cls([SearchHit.from_json(h) for h in body["results"]], body.get("next"))
