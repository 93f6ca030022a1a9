"""A user's code on the client type-checks under mypy --strict (the package ships py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_readme_example import readme_example

ASYNC_USER = """
import asyncio
from datetime import datetime

from threadkeeper.client import AsyncClient, LimitExceeded, Thread, ThreadNotFound, Turn


async def main() -> None:
    async with AsyncClient() as tk:
        thread: Thread = await tk.create(tool="chat", turns=[{"role": "user", "content": "hi"}])
        started: datetime = thread.created_at
        turns: list[Turn] = [t async for t in tk.turns(thread.id, order="desc")]
        try:
            await tk.append(thread.id, [{"role": "user", "content": "x"}], expected_version=1)
        except LimitExceeded as too_big:
            setting: str | None = too_big.setting
        except ThreadNotFound as gone:
            when: datetime | None = gone.deleted_at
        print(started, turns)

asyncio.run(main())
"""


def test_user_code_passes_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "readme_example.py").write_text(readme_example())
    (tmp_path / "async_user.py").write_text(ASYNC_USER)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "readme_example.py",
         "async_user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
