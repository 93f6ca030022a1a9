"""What a dead `up` left running, found and stopped by the next `up` on the same home.

Children die with their `up` (lifeline.py), so usually nothing is left. What that
cannot cover is left to this: a child started by an older threadkeeper (no
lifeline), a process frozen by SIGSTOP (it cannot act until continued), one still
finishing its stop, or a Redis on a system without PR_SET_PDEATHSIG. The next `up`
(holding the home's lock, so the old one is surely gone) stops them before it starts
its own, says in the log which case each was, and never adopts them: each is
identified first, by facts the kernel keeps, so a pid reused by an unrelated process
is left alone.

- Redis: the pid in its pidfile, whose working directory (redis-server chdirs to
  `--dir`) is this home's Redis data dir. Stopped with SIGTERM (and SIGCONT, should
  it be frozen): Redis fsyncs the AOF and exits, exactly as at a normal stop.
- worker, cron and the extra API processes (`api-2`...): the pids in the stale
  run.json, whose command line is `threadkeeper worker|cron|serve` and whose
  environment names this home. An API process left running still accepts on the
  port, so this runs before `up` binds it. They stop before Redis.

Identification reads /proc (Linux). Elsewhere nothing is touched and a warning says
which pids to check by hand.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from threadkeeper import lifeline
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.home import Home, RunInfo

log = logging.getLogger("threadkeeper.up")

PROC = Path("/proc")
STOP_WAIT = 30.0
KILL_WAIT = 5.0  # after SIGKILL: a process still there is stuck in the kernel


@dataclass(frozen=True, slots=True)
class Leftover:
    pid: int
    name: str  # as run.json called it: worker, api-2, redis-server
    why: str  # why it outlived its `up`


def find_orphans(home: Path) -> list[Leftover]:
    """Every process the previous `up` of `home` left behind, Redis last."""
    stale = RunInfo.read(home)
    found: list[Leftover] = []
    if stale is not None:
        for name, pid in stale.children.items():
            if _is_child_of_home(pid, _command(name), home):
                found.append(Leftover(pid, name, _why(pid)))
    redis_dir = Home(home).redis_dir
    redis_pid = _pidfile(ManagedRedis(redis_dir).pid_path)
    if redis_pid is not None and _cwd(redis_pid) == redis_dir.resolve():
        found.append(Leftover(redis_pid, "redis-server", _why(redis_pid)))
    if found and not PROC.exists():
        log.warning("cannot identify leftovers without /proc: check pids in %s", home)
    return found


def stop_orphans(home: Path, found: list[Leftover], wait: float = STOP_WAIT) -> list[Leftover]:
    """Stop `found`: Redis after the others, which may still be using it; those still alive."""
    for leftover in found:
        log.warning("stopping %s (pid %d), left running by an earlier `up` of %s: %s",
                    leftover.name, leftover.pid, home, leftover.why)  # fmt: skip
    for leftover in found:  # a frozen Redis would hang the others' last words to it
        _signal(leftover.pid, signal.SIGCONT)
    others = [x.pid for x in found if x.name != "redis-server"]
    redis = [x.pid for x in found if x.name == "redis-server"]
    left = terminate_all(others, wait) + terminate_all(redis, wait)
    return [x for x in found if x.pid in left]


def terminate_all(pids: list[int], wait: float = STOP_WAIT) -> list[int]:
    """SIGTERM (and SIGCONT: a frozen process acts on nothing), SIGKILL after `wait`
    seconds; the pids still alive after that."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        for pid in pids:
            _signal(pid, sig)
    left = _wait_gone(pids, wait)
    for pid in left:
        log.warning("pid %d did not stop within %.0f s: killing it", pid, wait)
        _signal(pid, signal.SIGKILL)
    return _wait_gone(left, KILL_WAIT)


def _wait_gone(pids: list[int], wait: float) -> list[int]:
    deadline = time.monotonic() + wait
    left = [pid for pid in pids if alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [pid for pid in left if alive(pid)]
    return left


def _why(pid: int) -> str:
    """Which case the lifeline could not cover (see the module doc)."""
    if _state(pid) in ("T", "t"):
        return "frozen (SIGSTOP), it could not see its `up` die"
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return "unknown (its environment is unreadable)"
    if not any(var.startswith(lifeline.ENV.encode() + b"=") for var in environ):
        return "started by an older threadkeeper, without a lifeline to its `up`"
    return "still stopping after its `up` died"


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    state = _state(pid)
    return lifeline.pid_exists(pid) if state is None else state != "Z"


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T, Z...), None when unreadable."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _pidfile(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and alive(pid) else None


def _cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(PROC / str(pid) / "cwd"))
    except OSError:
        return None


def _command(name: str) -> str:
    """The command a child of this name runs: `api-2` is `serve`, `worker` is itself."""
    return "serve" if name.startswith("api-") else name


def _is_child_of_home(pid: int, command: str, home: Path) -> bool:
    if not alive(pid):
        return False
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    wanted = f"THREADKEEPER_HOME={home}".encode()
    return b"threadkeeper" in argv and command.encode() in argv and wanted in environ
