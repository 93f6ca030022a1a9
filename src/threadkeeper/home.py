"""The files `up` keeps in its home for the other commands: where its Redis and API listen."""

from __future__ import annotations

import json
from pathlib import Path

RUN_FILE = "run.json"


def run_file(home: Path) -> Path:
    return home / RUN_FILE


def write_run_file(home: Path, redis_url: str, archive_url: str | None, api: str) -> None:
    info = {"redis_url": redis_url, "archive_url": archive_url, "api": api}
    run_file(home).write_text(json.dumps(info))
