"""`threadkeeper mcp` on stdio: ends by itself when its client closes, leaves no process, and
says plainly when the daemon is not there."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from mcp_support import THREADKEEPER, call, fail, over_stdio, stdio_env

import leaks
from live_server import LiveServer
from threadkeeper.client import Client
from threadkeeper.daemon.redis_server import free_port

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "test", "version": "0"}}}  # fmt: skip
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fetch", "arguments": {"id": "hello"}}}  # fmt: skip
EXIT_WAIT = 30  # seconds: a hang guard only


def _lines(*messages: object) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def test_it_exits_by_itself_when_its_client_closes_stdin(live: LiveServer) -> None:
    with Client(live.url) as tk:
        tk.create(id="hello", turns=[{"role": "user", "content": "hi"}])
    env = {"PATH": os.environ["PATH"], **stdio_env(live.url)}
    proc = subprocess.Popen([THREADKEEPER, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(_lines(INIT, INITIALIZED, CALL))
        proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for _ in range(2)]
        # Closing stdin once answered is the client going away (the spec's shutdown).
        _, err = proc.communicate(timeout=EXIT_WAIT)
    finally:
        if proc.poll() is None:  # only a hang gets here: stop it by its own pid
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert [a["id"] for a in answers] == [1, 2]
    assert json.loads(answers[1]["result"]["content"][0]["text"])["text"].endswith("\nhi")
    assert not leaks.group_alive(proc.pid)  # it started nothing that outlived it
    assert proc.pid not in leaks.descendants(os.getpid())


@pytest.mark.anyio
async def test_the_sdk_client_leaves_no_process(live: LiveServer) -> None:
    before = set(leaks.descendants(os.getpid()))
    async with over_stdio(live.url) as session:
        started = set(leaks.descendants(os.getpid())) - before
        await call(session, "list_threads")
    assert started  # the server ran as our child
    assert not started & set(leaks.descendants(os.getpid()))


@pytest.mark.anyio
async def test_a_daemon_that_is_down_is_a_clear_error() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with over_stdio(nowhere) as session:
        tools = await session.list_tools()  # the server itself runs without the daemon
        down = await fail(session, "search", query="x")
        also = await fail(session, "fetch", id="x")
    assert len(tools.tools) == 6
    assert down["error"] == "Unavailable" and nowhere in down["detail"]
    assert "is the daemon running? Start it with `threadkeeper up`" in down["detail"]
    assert "THREADKEEPER_URL" in also["detail"]
