"""What the LangGraph tests share: the chat graph of graph_chat.py run in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHAT = Path(__file__).with_name("graph_chat.py")
THREAD = "chat thread #1"  # not a threadkeeper id: the saver derives one


def chat(url: str, *messages: str, use_async: bool = False) -> list[list[str]]:
    env = {**os.environ, "THREADKEEPER_URL": url}
    args = [sys.executable, str(CHAT), *(["--async"] if use_async else []), THREAD, *messages]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    said: list[list[str]] = json.loads(out.stdout)
    return said


def heard(*messages: str) -> str:
    return f"heard {len(messages)}: {' | '.join(messages)}"
