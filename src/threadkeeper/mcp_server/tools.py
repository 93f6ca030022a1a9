"""The MCP tools: each one's arguments (a pydantic model: its JSON Schema is the tool's input
schema), what it calls on the backend, and the JSON it answers with.

`search` and `fetch` take exactly `query` and `id` and answer in the shape ChatGPT's
connectors and deep research read: one text item holding
`{"results": [{"id", "title", "url", "text"}]}`, and `{"id", "title", "text", "url",
"metadata"}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_types import CallToolResult, ContentBlock, TextContent, Tool, ToolAnnotations
from pydantic import BaseModel, ValidationError

from threadkeeper.client import ThreadkeeperError, ThreadNotFound
from threadkeeper.mcp_server import reading
from threadkeeper.mcp_server.answers import budget_chars, dumps, thread_summary, thread_url
from threadkeeper.mcp_server.arguments import (
    AppendArgs,
    FetchArgs,
    ForkArgs,
    ListArgs,
    ReadArgs,
    SearchArgs,
)  # fmt: skip
from threadkeeper.mcp_server.backend import Backend
from threadkeeper.mcp_server.limits import McpLimits
from threadkeeper.mcp_server.listing import find_threads, fitting, list_page

Handler = Callable[[Backend, Any, McpLimits], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    args: type[BaseModel]
    handler: Handler
    description: str
    annotations: ToolAnnotations
    structured: bool = False  # also answer as structuredContent (search, fetch)

    def tool(self, name: str) -> Tool:
        schema = self.args.model_json_schema()
        return Tool(name=name, description=self.description, input_schema=schema,
                    annotations=self.annotations)  # fmt: skip


async def search(backend: Backend, args: SearchArgs, limits: McpLimits) -> dict[str, Any]:
    found = await find_threads(backend, args.query, limits.search_results)
    results = found.results[: fitting(found.results, budget_chars(limits.answer_tokens))]
    body: dict[str, Any] = {"results": results}
    if found.note:
        body["note"] = found.note
    return body


async def fetch(backend: Backend, args: FetchArgs, limits: McpLimits) -> dict[str, Any]:
    return await reading.document(backend, args.id, limits.answer_tokens)


async def list_threads(backend: Backend, args: ListArgs, limits: McpLimits) -> dict[str, Any]:
    return await list_page(backend, args, limits.answer_tokens)


async def read_thread(backend: Backend, args: ReadArgs, limits: McpLimits) -> dict[str, Any]:
    if args.max_tokens is not None:
        return await reading.newest(backend, args.id, limits.answer_tokens, args.max_tokens)
    return await reading.page(backend, args, limits.answer_tokens)


async def append_turns(backend: Backend, args: AppendArgs, limits: McpLimits) -> dict[str, Any]:
    turns = [turn.model_dump(exclude_none=True) for turn in args.turns]
    try:
        done = await backend.append(args.id, turns, expected_version=args.expected_version)
    except ThreadNotFound as exc:
        if not args.create or exc.reason != "never_stored":
            raise
        thread = await backend.create(args.id, title=args.title, tool=args.tool, turns=turns)
        return {"id": thread.id, "created": True, "seqs": list(range(1, len(turns) + 1)),
                "version": thread.version, "url": thread_url(backend.url, thread.id)}  # fmt: skip
    return {"id": args.id, "created": False, "seqs": done.seqs, "version": done.version}


async def fork_thread(backend: Backend, args: ForkArgs, limits: McpLimits) -> dict[str, Any]:
    thread = await backend.fork(args.id, args.at_seq, id=args.new_id)
    return {"thread": thread_summary(thread, backend.url)}


_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
TOOLS: dict[str, ToolSpec] = {
    "search": ToolSpec(
        SearchArgs, search,
        "Find threads (saved conversations) by what their turns say: ids, titles, links and "
        "the matching passages, best first. Pass an id to fetch.",
        _READ, structured=True,
    ),
    "fetch": ToolSpec(
        FetchArgs, fetch,
        "A thread's text (its newest turns that fit one answer) and metadata, by id.",
        _READ, structured=True,
    ),
    "list_threads": ToolSpec(
        ListArgs, list_threads,
        "The threads most recently updated first, by tool and time; pass next_cursor for more.",
        _READ,
    ),
    "read_thread": ToolSpec(
        ReadArgs, read_thread,
        "A thread's turns: a page in seq order (follow `next`), or with max_tokens the newest "
        "turns within that many tokens, as a model's context would hold them.",
        _READ,
    ),
    "append_turns": ToolSpec(
        AppendArgs, append_turns,
        "Add turns to the end of a thread (create=true makes a thread never stored before).",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                        open_world_hint=False),
    ),
    "fork_thread": ToolSpec(
        ForkArgs, fork_thread,
        "Copy a thread's turns 1..at_seq into a new thread, to continue it another way.",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    ),
}  # fmt: skip


async def call(
    backend: Backend, name: str, arguments: dict[str, Any], limits: McpLimits
) -> CallToolResult:
    """Run tool `name`; a refused argument or a failed call is an error result saying why."""
    spec = TOOLS.get(name)
    if spec is None:
        return _error({"error": "unknown-tool", "detail": f"no tool {name!r}: use one of "
                       + ", ".join(TOOLS)})  # fmt: skip
    try:
        payload = await spec.handler(backend, spec.args.model_validate(arguments), limits)
    except ValidationError as exc:
        return _error({"error": "invalid-arguments", "detail": _invalid(name, exc)})
    except ThreadkeeperError as exc:
        return _error(reading.problem(exc))
    return answer(payload, structured=spec.structured)


def answer(payload: dict[str, Any], *, structured: bool = False) -> CallToolResult:
    text: list[ContentBlock] = [TextContent(text=dumps(payload))]
    return CallToolResult(content=text, structured_content=payload if structured else None)


def _error(payload: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=dumps(payload))], is_error=True)


def _invalid(name: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
        for err in exc.errors()
    )
    return f"{name}: {problems} (tools/list gives each argument's schema)"
