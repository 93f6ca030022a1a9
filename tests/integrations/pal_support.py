"""PAL's own code in its own virtualenv, driven from the tests (see pal_driver.py)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("pal_driver.py")
PAL_PYTHON = Path(os.environ.get("THREADKEEPER_PAL_PYTHON", ROOT / ".venv-pal/bin/python"))
ANSWER_TIMEOUT = 120


class Pal:
    """One PAL process (its published code, our storage installed), driven line by line."""

    def __init__(self, url: str, state_dir: Path, args: list[str] | None = None) -> None:
        self.process = subprocess.Popen(
            [str(PAL_PYTHON), *(args or [str(DRIVER)])], env=pal_env(url, state_dir), cwd=ROOT,
            text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def call(self, op: str, **args: Any) -> Any:
        answer = self.answer(op, **args)
        assert "error" not in answer, answer
        return answer["ok"]

    def answer(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"PAL's driver exited (code {self.process.poll()})"
        return dict(json.loads(line))

    def rpc(self, request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One MCP JSON-RPC request over stdio; its answer (notifications skipped)."""
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        assert self.process.stdout is not None
        while line := self.process.stdout.readline():
            message = json.loads(line)
            if message.get("id") == request_id:
                return dict(message)
        raise AssertionError(f"PAL exited without answering {method} ({self.process.poll()})")

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(ANSWER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def pal_env(url: str, state_dir: Path) -> dict[str, str]:
    """PAL's environment: our storage's URL, PAL's logs and transcripts under the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    return env | {"THREADKEEPER_URL": url, "PYTHONPATH": str(ROOT / "src"),
                  "MAX_CONVERSATION_TURNS": "200", "PAL_STATE_DIR": str(state_dir)}  # fmt: skip


StartPal = Callable[..., Pal]
