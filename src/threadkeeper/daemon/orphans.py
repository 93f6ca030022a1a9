"""What a dead `up` left running, found and stopped by the next `up` on the same home.

After `kill -9` of `up` alone its redis-server, worker and cron live on. The next
`up` (holding the home's lock, so the old one is surely gone) stops them before it
starts its own, and never adopts them: each is identified first, by facts the
kernel keeps, so a pid reused by an unrelated process is left alone.

- Redis: the pid in its pidfile, whose working directory (redis-server chdirs to
  `--dir`) is this home's Redis data dir. Stopped with SIGTERM: Redis fsyncs the
  AOF and exits, exactly as at a normal stop.
- worker, cron and the extra API processes (`api-2`...): the pids in the stale
  run.json, whose command line is `threadkeeper worker|cron|serve` and whose
  environment names this home. An API process left running still accepts on the
  port, so this runs before `up` binds it.

Identification reads /proc (Linux). Elsewhere nothing is touched and a warning says
which pids to check by hand.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from threadkeeper.daemon.home import RunInfo

log = logging.getLogger("threadkeeper.up")

PROC = Path("/proc")
STOP_WAIT = 30.0


def stop_orphans(home: Path, redis_dir: Path) -> list[int]:
    """Stop every process the previous `up` of `home` left behind; the pids stopped."""
    stale = RunInfo.read(home)
    found: list[tuple[int, str]] = []
    if stale is not None:
        for name, pid in stale.children.items():
            if _is_child_of_home(pid, _command(name), home):
                found.append((pid, name))
    redis_pid = _pidfile(redis_dir / "redis.pid")
    if redis_pid is not None and _cwd(redis_pid) == redis_dir.resolve():
        found.append((redis_pid, "redis-server"))  # last: the others may still be using it
    for pid, name in found:
        log.warning("stopping %s (pid %d), left running by an earlier `up` of %s", name, pid, home)
        terminate(pid)
    if found and not PROC.exists():
        log.warning("cannot identify leftovers without /proc: check pids in %s", home)
    return [pid for pid, _ in found]


def terminate(pid: int, wait: float = STOP_WAIT) -> None:
    """SIGTERM, wait for the process to go, SIGKILL if it will not."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while alive(pid):
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + wait
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return _exists(pid)
    return state != "Z"


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
