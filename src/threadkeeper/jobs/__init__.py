"""Background work: RQ job functions (tasks), the queue, the worker and the cron.

Jobs are enqueued by name. Before the package layout they were named
`threadkeeper.jobs.<function>`; a job of that name still queued in Redis from an
older version resolves here, lazily, to `threadkeeper.jobs.tasks.<function>`.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("_") or name in {"tasks", "queue", "worker", "cron"}:
        raise AttributeError(f"module threadkeeper.jobs has no attribute {name!r}")
    tasks = importlib.import_module("threadkeeper.jobs.tasks")
    try:
        return getattr(tasks, name)
    except AttributeError:
        raise AttributeError(f"module threadkeeper.jobs has no attribute {name!r}") from None
