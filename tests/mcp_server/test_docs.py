"""docs/MCP.md: every client configuration it shows starts a working server, and the answers
it shows are the tools' real shapes."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp_support import THREADKEEPER, call, over_http, over_stdio

from live_server import LiveServer
from search_support import index_now
from threadkeeper.auth import add_token
from threadkeeper.client import Client

pytestmark = pytest.mark.anyio

DOC = Path(__file__).parents[2] / "docs" / "MCP.md"
URL, TOKEN = "http://127.0.0.1:8750", "tk_REPLACE_ME"  # the doc's placeholders


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def _entries() -> list[dict[str, Any]]:
    """Every server entry of the JSON, TOML and `claude mcp add` snippets, in one shape."""
    found = [
        json.loads(b)["mcpServers"]["threadkeeper"] for b in _blocks("json") if "mcpServers" in b
    ]
    found += [tomllib.loads(b)["mcp_servers"]["threadkeeper"] for b in _blocks("toml")]
    found += [_claude_add(line) for b in _blocks("sh") for line in b.splitlines() if line]
    return found


def _claude_add(line: str) -> dict[str, Any]:
    words = shlex.split(line)
    assert words[:4] == ["claude", "mcp", "add", "--transport"] or words[:3] == [
        "claude", "mcp", "add",
    ]  # fmt: skip
    if "--transport" in words:
        header = words[words.index("--header") + 1].split(": ", 1)
        return {"type": "http", "url": words[6], "headers": {header[0]: header[1]}}
    env = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-e")
    command = words[words.index("--") + 1 :]
    return {"command": command[0], "args": command[1:], "env": env}


def test_the_doc_shows_each_client_both_ways() -> None:
    entries = _entries()
    stdio = [e for e in entries if "command" in e]
    http = [e for e in entries if "url" in e]
    assert len(stdio) == len(http) == 4  # Desktop, Code x3, Cursor x2, Codex x2
    assert all(e["command"] == "threadkeeper" and e["args"] == ["mcp"] for e in stdio)
    assert all(e["url"] == f"{URL}/mcp" for e in http)


@pytest.fixture
def authed(tmp_path: Path, serve: Callable[..., LiveServer]) -> tuple[LiveServer, str]:
    path = tmp_path / "tokens.json"
    _, token = add_token(path, "docs")
    live = serve(tokens_file=path)
    with Client(live.url, token) as tk:
        tk.create(id="rust-async", title="Rust async pitfalls", tool="pal",
                  turns=[{"role": "user", "content": "why does my future not run?"}])  # fmt: skip
    index_now(live.settings)
    return live, token


@pytest.mark.parametrize("index", range(8))
async def test_each_snippet_starts_a_working_server(
    authed: tuple[LiveServer, str], index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, token = authed
    entry = json.loads(json.dumps(_entries()[index]).replace(URL, live.url).replace(TOKEN, token))
    if "command" in entry:
        command = THREADKEEPER if entry["command"] == "threadkeeper" else entry["command"]
        session = over_stdio(live.url, command=command, args=entry["args"], env=entry["env"])
    else:
        headers = entry.get("headers", {})
        if "bearer_token_env_var" in entry:  # Codex reads the token from this variable
            monkeypatch.setenv(entry["bearer_token_env_var"], token)
            headers = {"Authorization": f"Bearer {token}"}
        assert headers["Authorization"] == f"Bearer {token}"
        session = over_http(entry["url"].removesuffix("/mcp"), token)
    async with session as client:
        found = await call(client, "search", query="future")
    assert [r["id"] for r in found["results"]] == ["rust-async"]


async def test_the_answers_shown_are_the_real_shapes(live: LiveServer) -> None:
    shown = [json.loads(b) for b in _blocks("json") if "mcpServers" not in b]
    with Client(live.url) as tk:
        tk.create(id="rust-async", title="Rust async pitfalls", tool="pal",
                  turns=[{"role": "user", "content": "why does my future not run?"}])  # fmt: skip
    index_now(live.settings)
    async with over_http(live.url) as session:
        real = [
            await call(session, "search", query="future"),
            await call(session, "fetch", id="rust-async"),
        ]
    for doc, got in zip(shown, real, strict=True):
        assert _shape(doc) == _shape(got)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("created_at", "updated_at")}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__
