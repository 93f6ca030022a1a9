"""`threadkeeper up` as a real subprocess: start it, wait for it, stop it, check its tree.

`Daemon.start` runs `up` in a session of its own, as a terminal would run a
foreground job, so a test can send SIGINT to that whole process group (what Ctrl-C
does). Every test ends with `stop` (SIGTERM) and `assert_tree_gone`: no process
of the tree `up` recorded in run.json may be left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from threadkeeper.daemon.orphans import alive
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.home import Home
from waiting import wait_for

STARTUP_TIMEOUT = 90
STOP_TIMEOUT = 90
BANNER = "threadkeeper is up"  # up's banner, logged once the API accepts connections


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    return env | extra


def threadkeeper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`threadkeeper ARGS` in a process of its own, as a user runs it beside `up`."""
    return subprocess.run(
        [sys.executable, "-m", "threadkeeper", *args], env=clean_env(), cwd=cwd,
        capture_output=True, text=True, timeout=STOP_TIMEOUT,
    )  # fmt: skip


class Daemon:
    def __init__(self, home: Path, executable: str | None = None) -> None:
        self.home = home
        self.paths = Home(home)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.closing: list[httpx.Client] = []
        self._launched_at = 0  # where this launch's lines start in the log
        self.pids: dict[str, int] = {}
        self.command = [executable] if executable else [sys.executable, "-m", "threadkeeper"]
        self.log_path = home.parent / f"up-{self.port}.log"

    def launch(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        args = [*self.command, "up", "--home", str(self.home), "--port", str(self.port), *extra]
        with self.log_path.open("ab") as log:
            self._launched_at = log.tell()
            self.process = subprocess.Popen(
                args, env=env or clean_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.home.parent,
            )  # fmt: skip
        return self.process

    def start(self, *extra: str, env: dict[str, str] | None = None) -> Daemon:
        self.launch(*extra, env=env)
        self._wait_ready()
        self.pids = self.tree()
        return self

    def _wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"threadkeeper up exited: {self.output()}")
            # up logs its banner a moment after the API answers: a test reading the
            # start-up lines (auth on/off, next steps) must not race it.
            answers = httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            return answers and BANNER in self._since_launch()

        wait_for(ready, "threadkeeper up to be ready", timeout=STARTUP_TIMEOUT, interval=0.2,
                 ignoring=(httpx.TransportError,), detail=self.output)  # fmt: skip

    def _since_launch(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._launched_at)
            return log.read().decode(errors="replace")

    def tree(self) -> dict[str, int]:
        """up, redis-server, worker and cron pids, from run.json."""
        info = json.loads(self.paths.run_file.read_text())
        pids = {"up": info["pid"], **info["children"]}
        if info.get("redis_pid"):
            pids["redis-server"] = info["redis_pid"]
        return pids

    def output(self) -> str:
        """The log's tail, for a failure message."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def log(self) -> str:
        """The whole log, for assertions on what was said."""
        return self.log_path.read_text(errors="replace")

    def client(self, **headers: str) -> httpx.Client:
        http = httpx.Client(base_url=self.base, timeout=30, headers=headers)
        self.closing.append(http)
        return http

    def signal(self, sig: signal.Signals, group: bool = False) -> int:
        """Send `sig` to up (or its whole process group, as Ctrl-C does); the exit code."""
        assert self.process is not None
        for http in self.closing:
            http.close()
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(STOP_TIMEOUT)

    def stop(self) -> int:
        return self.signal(signal.SIGTERM)

    def interrupt(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        return self.signal(signal.SIGINT)

    def redis_url(self) -> str:
        return str(json.loads(self.paths.run_file.read_text())["redis_url"])

    def assert_tree_gone(self) -> None:
        left = {name: pid for name, pid in self.pids.items() if wait_gone(pid)}
        assert not left, f"left running after up exited: {left}\n{self.output()}"

    def close(self) -> None:
        """Whatever happened in the test: stop up (SIGTERM), then anything it left."""
        for http in self.closing:
            http.close()
        pids = set(self.pids.values())
        if self.paths.run_file.exists():
            pids |= set(self.tree().values())  # a child restarted since start
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for pid in pids:
            if wait_gone(pid, timeout=5):
                os.kill(pid, signal.SIGKILL)


def wait_gone(pid: int, timeout: float = 30) -> bool:
    """True if `pid` is still alive after `timeout` seconds."""
    return not wait_for(lambda: not alive(pid), "", timeout=timeout, interval=0.05, fail=False)
