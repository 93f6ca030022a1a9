"""How `up`'s children fare: written by `up` to children.json, read by health and status.

`up` rewrites the file whenever a child starts or dies, and removes it when it
stops. A file whose `up` is gone (after a kill -9) is ignored: the record names
its writer's pid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threadkeeper.home import Home, write_atomically
from threadkeeper.lifeline import pid_exists


@dataclass(frozen=True, slots=True)
class ChildState:
    name: str  # worker, cron, api-2 ...
    pid: int | None
    running: bool
    deaths: int  # exits `up` did not ask for, since it started
    last_exit: str | None  # "exit code 1", "killed by SIGKILL"
    last_exit_at: int | None  # ms since the epoch
    restart_at: int | None  # while down: when `up` starts it again (ms since the epoch)
    log: str

    def public(self) -> dict[str, Any]:
        return asdict(self)


def write_states(home: Path, supervisor_pid: int, states: list[ChildState]) -> None:
    record = {"pid": supervisor_pid, "children": [asdict(s) for s in states]}
    write_atomically(Home(home).children_file, json.dumps(record))


def read_states(home: Path) -> tuple[ChildState, ...]:
    """The running `up`'s children; none when no `up` runs for `home` (or it has none)."""
    try:
        data = json.loads(Home(home).children_file.read_text())
        if not pid_exists(int(data["pid"])):
            return ()
        return tuple(ChildState(**child) for child in data["children"])
    except (OSError, ValueError, TypeError, KeyError):
        return ()
