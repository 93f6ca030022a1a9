"""What `up` runs beside its own API (more API processes, worker, cron); how often they die."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("threadkeeper.up")


@dataclass
class Restarts:
    """Restart pacing: wait 1, 2, 4 ... 30 s between tries; `exhausted` after too many.

    Five restarts within `window` seconds means the part cannot run (a port taken,
    a broken config): looping on it would only fill the log.
    """

    limit: int = 5
    window: float = 120.0
    _times: list[float] = field(default_factory=list)

    def _recent(self) -> list[float]:
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < self.window]
        return self._times

    def due(self) -> bool:
        recent = self._recent()
        if not recent:
            return True
        return time.monotonic() - recent[-1] >= min(30.0, 2.0 ** (len(recent) - 1))

    def exhausted(self) -> bool:
        return len(self._recent()) >= self.limit

    def note(self) -> None:
        self._times.append(time.monotonic())


@dataclass
class Child:
    """`python -m threadkeeper <command> <args>` in its own session, its output in a log file.

    `name` is how run.json and the log call it (`api-2` runs `serve --fd 3`);
    `pass_fds` are inherited, at the same numbers (the API's listening socket).
    """

    command: str
    env: dict[str, str]
    log_path: Path
    name: str = ""  # the command's own, unless several run it
    args: tuple[str, ...] = ()
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    restarts: Restarts = field(default_factory=Restarts)

    def __post_init__(self) -> None:
        self.name = self.name or self.command

    def start(self) -> None:
        argv = [sys.executable, "-m", "threadkeeper", self.command, *self.args]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=self.pass_fds,
                start_new_session=True,  # out of the terminal's signals: `up` stops it in order
            )
        log.info("started %s (pid %d, log %s)", self.name, self.process.pid, self.log_path)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def code(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the exit SIGTERM asked for (a worker finishes its job), then SIGKILL."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()
