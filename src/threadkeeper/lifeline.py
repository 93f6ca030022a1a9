"""Children that die with their supervisor: a lifeline pipe, and PR_SET_PDEATHSIG.

`up` keeps the write end of one pipe and hands the read end to each Python child
(`serve --shared`, worker, cron...), named in THREADKEEPER_LIFELINE. The kernel closes
the write end however `up` ends, `kill -9` included, so the child's read returns
end-of-file: the child then stops as at SIGTERM (an API process closes its
listening socket first). Its Redis usually went down with `up`, so a second
SIGTERM follows HURRY seconds later (rq's cold shutdown: a worker retrying a
vanished Redis would otherwise wait it out), and GIVE_UP seconds after the first
the process exits whatever it is doing: nothing outlives `up` by more than that.
This works on every POSIX system and does not care which of `up`'s threads
started the child.

redis-server is not our code and cannot watch a pipe: on Linux it is started with
PR_SET_PDEATHSIG, so the kernel sends it SIGTERM (fsync the AOF, exit) when the
*thread* that forked it ends. `up` therefore forks it from its main thread only.
Elsewhere a Redis left by a dead `up` is stopped by the next one (orphans.py).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

ENV = "THREADKEEPER_LIFELINE"  # the read end's fd number, or DEATHSIG for redis-server
DEATHSIG = "deathsig"
PR_SET_PDEATHSIG = 1
HURRY = 2.0  # seconds after the first stop request, a second one
GIVE_UP = 4.0  # seconds after the first, os._exit


class Lifeline:
    """The supervisor's end: a pipe whose read end every child inherits."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # both close-on-exec: passed by pass_fds

    def env(self) -> dict[str, str]:
        return {ENV: str(self.read_fd)}

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def watch_from_env() -> None:
    """In a child: stop this process when its supervisor is gone (see the module doc)."""
    value = os.environ.pop(ENV, "")  # what this process starts is not `up`'s child
    if not value.isdigit():
        return  # not a child of `up`, or its Redis
    threading.Thread(target=_watch, args=(int(value),), name="lifeline", daemon=True).start()


def _watch(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass  # nobody writes: only end-of-file (the supervisor gone) ends this
    except OSError:
        pass
    log.warning("the supervisor is gone: stopping (at most %g s)", GIVE_UP)
    _stop_request()
    time.sleep(HURRY)
    _stop_request()  # a second stop hurries: rq's cold shutdown, uvicorn drops connections
    time.sleep(GIVE_UP - HURRY)
    log.error("still running %g s after the supervisor died: exiting now", GIVE_UP)
    sys.stderr.flush()
    os._exit(1)


def _stop_request() -> None:
    # To the main thread, as a kill from outside would land: its blocking call (a
    # worker's BLPOP) is interrupted and the handler runs there and then.
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)


def parent_death_signal(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn making the child get `sig` when the forking thread ends (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after the fork
    parent = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return in_child


def pid_exists(pid: int) -> bool:
    """True while a process `pid` exists (a zombie included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
