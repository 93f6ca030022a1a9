"""Every request and response body of the HTTP API, declared once as msgspec Structs.

Decoding a request checks it against these (unknown fields, types, roles, fixed
bounds); encoding a response and `/openapi.json` come from the same declarations.
A `Meta(description=...)` says what a field must be: the schema shows it, and a
refused request quotes it ("turns[0].content must be a string").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Raw, Struct

from threadkeeper import models
from threadkeeper.idempotency import MAX_KEY
from threadkeeper.keys import ID_PATTERN, ID_RULE
from threadkeeper.models import ThreadState

MAX_LABEL = 512  # title, tool, model, tool_name
MAX_TOKENS = 2**53  # any real count; keeps the value inside what a snapshot can hold
ID_REGEX = f"^{ID_PATTERN.pattern}$"

Role = Annotated[models.Role, Meta(description=f"a role: use one of {', '.join(models.ROLES)}")]
Id = Annotated[str, Meta(pattern=ID_REGEX, description=ID_RULE)]
Label = Annotated[str, Meta(max_length=MAX_LABEL, description="a string")]
Text = Annotated[str, Meta(description="a string")]
Strings = Annotated[list[str], Meta(description="a list of strings")]
Metadata = Annotated[dict[str, Any], Meta(description="a JSON object")]
Tokens = Annotated[
    int, Meta(ge=0, le=MAX_TOKENS, description=f"a whole number between 0 and {MAX_TOKENS}")
]
WholeNumber = Annotated[int, Meta(description="a whole number")]
Seq = Annotated[int, Meta(ge=0, description="a whole number >= 0")]
Version = Annotated[int, Meta(ge=1, description="a whole number >= 1")]
Time = Annotated[str, Meta(description="an RFC 3339 time (UTC, milliseconds)")]


# -- requests ---------------------------------------------------------------------


class TurnIn(Struct, forbid_unknown_fields=True, kw_only=True):
    """A turn as a client sends it; `seq` and `created_at` echoed from a read are ignored."""

    role: Role
    content: Text
    tool_name: Label | None = None
    model: Label | None = None
    files: Strings = []
    images: Strings = []
    metadata: Metadata = {}
    tokens: Tokens | None = None
    seq: Annotated[Any, Meta(description="read-only: ignored")] = None
    created_at: Annotated[Any, Meta(description="read-only: ignored")] = None


TurnList = Annotated[list[TurnIn], Meta(description="a list of turn objects")]
NonEmptyTurns = Annotated[
    list[TurnIn], Meta(min_length=1, description="a non-empty list of turn objects")
]


class NewThread(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads."""

    id: Id | None = None
    title: Label | None = None
    tool: Label | None = None
    metadata: Metadata = {}
    turns: TurnList = []
    user_id: Id | None = None


class NewTurns(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/turns."""

    turns: NonEmptyTurns
    expected_version: WholeNumber | None = None


class ForkRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/fork."""

    at_seq: Seq
    id: Id | None = None


# -- responses --------------------------------------------------------------------


class Turn(Struct, kw_only=True):
    """A stored turn as every read shows it (its JSON is stored as is: see codec)."""

    seq: int
    role: Role
    content: str
    created_at: Time | None
    tool_name: str | None = None
    model: str | None = None
    files: list[str] = []
    images: list[str] = []
    metadata: dict[str, Any] = {}
    tokens: int | None = None


class PossiblyMissing(Struct, kw_only=True):
    """Turns that may be missing: the thread was restored from before a loss of Redis's data."""

    after_seq: int
    lost_at: Time | None
    detail: str


class ThreadInfo(Struct, kw_only=True):
    """A thread's metadata as the API shows it."""

    id: str
    tenant: str
    title: str | None
    tool: str | None
    metadata: dict[str, Any]
    created_at: Time | None
    updated_at: Time | None
    turn_count: int
    bytes: int
    version: int
    parent_id: str | None
    fork_seq: int | None
    state: ThreadState
    archived_version: int
    archived_at: Time | None
    possibly_missing: PossiblyMissing | None = None
    user_id: str | None = None


# A page's turns go out as the stored JSON, joined: never decoded to be re-encoded.
TurnsJSON = Annotated[
    Raw, Meta(extra_json_schema={"type": "array", "items": {"$ref": "#/components/schemas/Turn"}})
]
MissingTurns = Annotated[list[int], Meta(description="[first, last] seq nothing holds any more")]


class ThreadView(Struct, kw_only=True, omit_defaults=True):
    """A page of a thread (read, create, fork)."""

    thread: ThreadInfo
    turns: TurnsJSON
    next: str | None
    missing_turns: MissingTurns | None = None
    detail: str | None = None


class ThreadContext(Struct, kw_only=True, omit_defaults=True):
    """GET /v1/threads/{id}/context: the newest turns that fit, oldest first."""

    thread: ThreadInfo
    turns: TurnsJSON
    tokens: int
    omitted: int
    missing_turns: MissingTurns | None = None
    detail: str | None = None


class AppendedTurns(Struct, kw_only=True):
    seqs: list[int]
    version: int


class ThreadList(Struct, kw_only=True):
    threads: list[ThreadInfo]
    next: str | None


class SearchHit(Struct, kw_only=True):
    """One matching turn: its thread, where it is, and the text around the match."""

    thread_id: str
    seq: int
    role: str
    title: str | None
    tool: str | None
    snippet: Annotated[str, Meta(description="plain text around the match, '…' where cut")]
    highlights: Annotated[
        list[list[int]], Meta(description="[start, end) character offsets of each match")
    ]
    score: Annotated[float, Meta(description="BM25 relevance: higher is better")]
    updated_at: Time | None


class SearchResults(Struct, kw_only=True):
    """GET /v1/search: one hit per matching turn, best first."""

    results: list[SearchHit]
    next: str | None


class ArchiveQueued(Struct, kw_only=True):
    """POST /v1/threads/{id}/archive: the job queued (202)."""

    status: Literal["queued", "already_queued"]
    job_id: str
    version: int


class ArchiveDone(Struct, kw_only=True):
    """POST /v1/threads/{id}/archive?wait=true: the snapshot verified (200)."""

    status: str
    thread: ThreadInfo


class RehydrateDone(Struct, kw_only=True, omit_defaults=True):
    status: str
    thread: ThreadInfo
    missing_turns: MissingTurns | None = None


class Problem(Struct, kw_only=True):
    """An RFC 9457 problem; extra members (field, limit, setting, ...) say more."""

    type: str
    title: str
    status: int
    detail: str


class Liveness(Struct):
    status: Literal["ok"]


class Readiness(Struct):
    ready: bool
    problems: list[str]


# -- an export line (`threadkeeper export`, read back by `threadkeeper import`) ---------

Ignored = Annotated[Any, Meta(description="describes the exporting store: ignored")]
LegacyKey = Annotated[str, Meta(max_length=MAX_KEY)]
Dedupe = Annotated[
    str | dict[LegacyKey, str],
    Meta(
        description="the base64 of the thread's records, or (as older versions exported it) "
        f"map keys (at most {MAX_KEY} characters) to strings"
    ),
]


class GapIn(Struct, kw_only=True):
    """PossiblyMissing read back: its `detail` is written anew."""

    after_seq: Seq
    lost_at: Time
    detail: Ignored = None


Gap = Annotated[GapIn | None, Meta(description="null or an object: {after_seq, lost_at}")]


class ThreadIn(Struct, forbid_unknown_fields=True, kw_only=True):
    """ThreadInfo read back, with the fields a thread cannot do without (the rest take their
    defaults); what describes the exporting store (state, bytes, archived_*) is ignored."""

    id: Id
    tenant: Id
    created_at: Time
    updated_at: Time
    version: Version
    turn_count: Seq
    title: Label | None = None
    tool: Label | None = None
    metadata: Metadata = {}
    parent_id: Label | None = None
    fork_seq: Seq | None = None
    possibly_missing: Gap = None
    user_id: Id | None = None
    state: Ignored = None
    bytes: Ignored = None
    archived_version: Ignored = None
    archived_at: Ignored = None


class ExportLine(Struct, forbid_unknown_fields=True, kw_only=True):
    """One thread whole, as GET /v1/threads/{id} shows it, and its dedupe records."""

    thread: ThreadIn
    turns: TurnList
    idempotency: Dedupe = ""


HealthReport = Annotated[
    dict[str, Any], Meta(title="HealthReport", description="the restart-survival report")
]


def joined(turns_json: list[bytes]) -> Raw:
    """Stored turns as one JSON array, without decoding them.

    One join, no concatenation after it: a page of 1,000 turns is ~580 kB, and each
    extra copy of it (`b"[" + ... + b"]"` made two) cost ~1 ms, half a full read's CPU.
    """
    if not turns_json:
        return Raw(b"[]")
    parts = list(turns_json)
    parts[0] = b"[" + parts[0]
    parts[-1] += b"]"
    return Raw(b",".join(parts))
