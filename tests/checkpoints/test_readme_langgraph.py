"""The README's LangGraph example runs as written against a live daemon, twice: the second
process resumes the thread the first one left."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from live_server import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("### LangGraph's memory", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the section has no python block"
    return match.group(1)


def test_the_readme_langgraph_example_runs_as_written(live: LiveServer) -> None:
    code = readme_example()
    assert len(code.strip().splitlines()) <= 13  # short enough to read at a glance
    env = {**os.environ, "THREADKEEPER_URL": live.url}
    env.pop("THREADKEEPER_TOKEN", None)
    said = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        said.append(ast.literal_eval(out.stdout.strip()))
    assert said[0] == ["hi", "you said hi", "again", "you said again"]
    assert said[1] == said[0] + ["hi", "you said hi", "again", "you said again"]
