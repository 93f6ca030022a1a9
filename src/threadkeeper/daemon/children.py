"""What `up` runs beside its own API (more API processes, worker, cron); how often they die."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from threadkeeper.health.children import ChildState
from threadkeeper.models import now_ms

log = logging.getLogger("threadkeeper.up")


@dataclass
class Restarts:
    """Redis's restart pacing: wait 1, 2, 4 ... 30 s between tries; `exhausted` after too many.

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
class Backoff:
    """A child's pause before its next start: `first`, doubling at each death in a row up
    to `cap`, for as long as it takes. A child that ran `cap` seconds starts over."""

    first: float = 1.0
    cap: float = 30.0
    in_a_row: int = 0

    def after_death(self, ran_for: float) -> float:
        self.in_a_row = 1 if ran_for >= self.cap else self.in_a_row + 1
        return float(min(self.cap, self.first * 2 ** (self.in_a_row - 1)))


@dataclass
class Child:
    """`python -m threadkeeper <command> <args>` in its own session, its output in a log file.

    `name` is how run.json and the log call it (`api-2` runs `serve --shared`);
    `pass_fds` are inherited, at the same numbers (the lifeline).
    """

    command: str
    env: dict[str, str]
    log_path: Path
    name: str = ""  # the command's own, unless several run it
    args: tuple[str, ...] = ()
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    backoff: Backoff = field(default_factory=Backoff)
    deaths: int = 0
    last_exit: str | None = None
    last_exit_at: int | None = None
    _started_at: float = 0.0
    _restart_at: float | None = None  # while down: when to start it again (monotonic)

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
        self._started_at, self._restart_at = time.monotonic(), None
        log.info("started %s (pid %d, log %s)", self.name, self.process.pid, self.log_path)

    def noticed_death(self) -> bool:
        """True once per exit `up` did not ask for: counts it and schedules the restart."""
        if self.process is None or self._restart_at is not None or self.alive():
            return False
        now = time.monotonic()
        self.deaths += 1
        self.last_exit, self.last_exit_at = describe_exit(self.process.returncode), now_ms()
        pause = self.backoff.after_death(now - self._started_at)
        self._restart_at = now + pause
        so_far = "1 death" if self.deaths == 1 else f"{self.deaths} deaths"
        log.error("%s exited (%s; %s so far); restarting it in %.1f s (see %s)",
                  self.name, self.last_exit, so_far, pause, self.log_path)  # fmt: skip
        return True

    def due(self) -> bool:
        return self._restart_at is not None and time.monotonic() >= self._restart_at

    def state(self) -> ChildState:
        wait = None if self._restart_at is None else self._restart_at - time.monotonic()
        restart_at = None if wait is None else now_ms() + round(max(0.0, wait) * 1000)
        return ChildState(
            name=self.name,
            pid=self.process.pid if self.process is not None else None,
            running=self.alive(),
            deaths=self.deaths,
            last_exit=self.last_exit,
            last_exit_at=self.last_exit_at,
            restart_at=restart_at,
            log=str(self.log_path),
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

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
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %d) survived SIGKILL", self.name, self.process.pid)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
