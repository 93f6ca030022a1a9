"""The OpenAI Conversations API's bodies, as the `openai` SDK's own types declare them
(openai/types/conversations), plus the edit bodies of the native API.

Items are open-ended (any item type is stored as sent), so they are plain JSON
objects here, checked by conversations/items.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from threadkeeper.wire.shapes import Id, Label, Metadata, Text, ThreadInfo, TurnIn, WholeNumber

Item = Annotated[dict[str, Any], Meta(title="ConversationItem", description="an item object")]
Items = Annotated[list[Item], Meta(description="a list of item objects")]
OpenAIMetadata = Annotated[
    dict[str, Any],
    Meta(description="at most 16 pairs: keys up to 64 characters, string values up to 512"),
]


class ItemTurn(TurnIn, kw_only=True):
    """A turn written from a conversation item, which is stored with it (codec)."""

    item: dict[str, Any]


# -- requests ---------------------------------------------------------------------


class ConversationCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/conversations."""

    items: Items | None = None
    metadata: OpenAIMetadata | None = None


class ConversationUpdate(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/conversations/{id}."""

    metadata: OpenAIMetadata | None


class ItemsCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/conversations/{id}/items."""

    items: Annotated[list[Item], Meta(min_length=1, description="a non-empty list of items")]


class TurnPatch(Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /v1/threads/{id}/turns/{seq}: the fields sent are changed."""

    content: Text | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    expected_version: WholeNumber | None = None


class ThreadPatch(Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /v1/threads/{id}: the fields sent are changed (a null title clears it)."""

    title: Label | None | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    user_id: Id | None | UnsetType = UNSET  # a tenant-wide token only; null: the tenant's
    expected_version: WholeNumber | None = None


# -- responses --------------------------------------------------------------------


class Conversation(Struct, kw_only=True):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: Annotated[int, Meta(description="unix seconds")]
    metadata: dict[str, Any]


class ConversationDeleted(Struct, kw_only=True):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


class ItemList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Item]
    first_id: str | None
    last_id: str | None
    has_more: bool


class OpenAIErrorDetail(Struct, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(Struct, kw_only=True):
    """OpenAI's error body, on the /v1/conversations routes."""

    error: OpenAIErrorDetail


class TurnChanged(Struct, kw_only=True):
    """PATCH or DELETE of one turn: the turn now (null once deleted) and the version."""

    seq: int
    version: int
    changed: bool
    turn: dict[str, Any] | None


class ThreadUpdated(Struct, kw_only=True):
    """PATCH /v1/threads/{id}: the thread as it is now."""

    thread: ThreadInfo
