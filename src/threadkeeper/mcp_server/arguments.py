"""Each MCP tool's arguments: a pydantic model, whose JSON Schema is the tool's input schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from threadkeeper.client._types import Order

ThreadId = Annotated[str, Field(description="A thread id, as search or list_threads give it")]


class SearchArgs(BaseModel):
    query: str = Field(
        description='Words, "phrases" and prefix* that a thread\'s turns say (all must match; '
        "case and accents ignored); an empty query lists the newest threads"
    )


class FetchArgs(BaseModel):
    id: ThreadId


class ListArgs(BaseModel):
    tool: str | None = Field(None, description="Only threads written by this tool (e.g. pal)")
    prefix: str | None = Field(None, description="Only ids, or titles (any case), starting so")
    updated_after: datetime | None = Field(None, description="RFC 3339; exclusive")
    updated_before: datetime | None = Field(None, description="RFC 3339; exclusive")
    limit: int = Field(20, ge=1, le=100, description="Threads per answer")
    cursor: str | None = Field(None, description="`next_cursor` of the previous answer")


class ReadArgs(BaseModel):
    id: ThreadId
    order: Order = Field("asc", description="Oldest first, or newest first")
    after: int | None = Field(None, ge=0, description="Only turns with a seq above this")
    before: int | None = Field(None, ge=1, description="Only turns with a seq below this")
    limit: int = Field(50, ge=1, le=1000, description="Most turns in this answer")
    max_tokens: int | None = Field(
        None, ge=1, description="Instead of a page: the newest turns that fit this many tokens"
    )
    from_char: int = Field(0, ge=0, description="Where to resume a turn an answer cut short")


class TurnIn(BaseModel):
    role: str = Field(description="user, assistant, system or tool")
    content: str
    model: str | None = None
    tool_name: str | None = None


class AppendArgs(BaseModel):
    id: ThreadId
    turns: list[TurnIn] = Field(min_length=1)
    expected_version: int | None = Field(
        None, ge=0, description="Refuse the append if the thread changed since this version"
    )
    create: bool = Field(False, description="Create the thread if it was never stored")
    title: str | None = Field(None, description="The title of a thread this call creates")
    tool: str | None = Field(None, description="The tool of a thread this call creates")


class ForkArgs(BaseModel):
    id: ThreadId
    at_seq: int = Field(ge=0, description="The new thread keeps turns 1..at_seq")
    new_id: str | None = Field(None, description="The new thread's id; one is made if omitted")
