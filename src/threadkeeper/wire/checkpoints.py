"""The bodies of the LangGraph checkpoint routes (api/checkpoints.py), declared once.

Values cross the wire in LangGraph's serializer's typed form, `[type, base64 bytes]`
(`SerializerProtocol.dumps_typed`): the server stores them as given and never decodes
them. A channel's version is LangGraph's own (a string, an int or a float).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from threadkeeper.wire.shapes import Id, Label, Role

Typed = Annotated[
    list[str],
    Meta(
        min_length=2,
        max_length=2,
        description="a serializer's typed value: [type, base64 of its bytes]",
    ),
]
Version = Annotated[str | int | float, Meta(description="a channel version: string or number")]
Name = Annotated[str, Meta(max_length=512, description="a string of at most 512 characters")]
Namespace = Annotated[
    str, Meta(max_length=1024, description="a checkpoint namespace ('' for the root graph)")
]


class ChannelValue(Struct, forbid_unknown_fields=True, kw_only=True):
    """One channel's value at one version: stored once, found again by (channel, version)."""

    channel: Name
    version: Version
    value: Typed


class PreviewMessage(Struct, forbid_unknown_fields=True, kw_only=True):
    """The newest message of the checkpoint's messages channel, as text, for the console."""

    role: Role
    content: str


class CheckpointPut(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/checkpoints."""

    thread: Annotated[str, Meta(min_length=1, max_length=512, description="LangGraph's thread_id")]
    ns: Namespace = ""
    id: Label
    parent_id: Label | None = None
    checkpoint: Typed
    versions: dict[str, Version] = {}
    metadata: dict[str, Any] = {}
    values: list[ChannelValue] = []
    preview: PreviewMessage | None = None


class CheckpointStored(Struct, kw_only=True):
    thread_id: str
    ns: str
    id: str
    seq: int


class WriteIn(Struct, forbid_unknown_fields=True, kw_only=True):
    channel: Name
    idx: int
    value: Typed


class WritesPut(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/checkpoints/writes: a task's pending writes."""

    thread: Annotated[str, Meta(min_length=1, max_length=512, description="LangGraph's thread_id")]
    ns: Namespace = ""
    checkpoint_id: Label
    task_id: Name
    task_path: Annotated[str, Meta(max_length=4096, description="a string")] = ""
    writes: list[WriteIn]


class WritesStored(Struct, kw_only=True):
    seq: int


class PendingWrite(Struct, kw_only=True):
    task_id: str
    channel: str
    value: Typed
    task_path: str
    idx: int


class CheckpointOut(Struct, kw_only=True):
    """A checkpoint with its channel values and its pending writes, in writes_sort_key order."""

    thread_id: str
    ns: str
    id: str
    parent_id: str | None
    checkpoint: Typed
    metadata: dict[str, Any]
    values: dict[str, Typed]
    writes: list[PendingWrite]


class CheckpointList(Struct, kw_only=True):
    """GET /v1/threads/{id}/checkpoints: newest first; `next` continues it."""

    checkpoints: list[CheckpointOut]
    next: str | None


class CopyRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/checkpoints/copy."""

    target_id: Id
    target_thread: Annotated[
        str, Meta(min_length=1, max_length=512, description="the target's LangGraph thread_id")
    ]


class PruneRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/threads/{id}/checkpoints/prune."""

    strategy: Literal["keep_latest", "delete"] = "keep_latest"


class RunsDelete(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/checkpoints/delete-runs."""

    run_ids: Annotated[list[Name], Meta(max_length=1000, description="at most 1000 run ids")]


class Counted(Struct, kw_only=True):
    """How many records a copy copied, or checkpoints a prune or a run deletion dropped."""

    count: int
