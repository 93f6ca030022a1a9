"""No process a test starts may outlive the test run: found by ancestry, never by name.

At start the pytest process becomes a child subreaper (Linux prctl), so anything
its tests start that is orphaned (a Redis left by a killed `up`, rq's scheduler
child) is re-parented to pytest instead of init. At the end of the session, after
every fixture is torn down, each live descendant of pytest is a leak: the run
fails and names it, and the leak is killed by pid.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

from waiting import wait_for

PR_SET_CHILD_SUBREAPER = 36
PROC = Path("/proc")


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state) of a process, None if it is gone."""
    try:
        fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def descendants(root: int) -> dict[int, str]:
    """Live (non-zombie) descendants of `root`: pid -> command line."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
            states[int(entry.name)] = stat[1]
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if states.get(pid) != "Z":
            found[pid] = _cmdline(pid)
    return found


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process in process group `pgid`.

    Not `os.killpg(pgid, 0)`: that counts zombies, and an orphan re-parented to
    pytest stays a zombie (pytest, the subreaper, does not reap what it did not start).
    """
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def leaked(grace: float = 15.0) -> dict[int, str]:
    """Descendants still alive after `grace` seconds (processes may be finishing a stop)."""
    wait_for(lambda: not descendants(os.getpid()), "", timeout=grace, fail=False)
    return descendants(os.getpid())


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
