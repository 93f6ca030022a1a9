"""The README's "Use it from Python" example runs as written against a live daemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from client_live import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Use it from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the section has no python block"
    return match.group(1)


def test_the_readme_example_runs_as_written(live: LiveServer) -> None:
    env = {**os.environ, "THREADKEEPER_URL": live.url}
    env.pop("THREADKEEPER_TOKEN", None)
    out = subprocess.run([sys.executable, "-c", readme_example()], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["appended [2] version 2", "1 user hi", "2 assistant hello"]
    assert lines[3] == "threads: ['chat-42'] 2" and lines[4] == "fork of chat-42"
    assert lines[-1].startswith("deleted 20")
