"""A redis-server that threadkeeper starts and supervises itself (`threadkeeper up`, tests)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from threadkeeper import lifeline
from threadkeeper.errors import ConfigError

BUNDLED_CONF = Path(__file__).resolve().parent / "redis.conf"  # package data: pip ships it


def find_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise ConfigError(
            "redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install "
            "redis-server; macOS: brew install redis), or set THREADKEEPER_REDIS_URL to a "
            "Redis you run yourself"
        )
    return path


def bundled_conf() -> Path:
    """The project's redis.conf (AOF always, noeviction), installed inside the package."""
    return BUNDLED_CONF


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ManagedRedis:
    """One redis-server process on loopback, with its data under `data_dir`."""

    data_dir: Path
    port: int = 0
    conf: Path = field(default_factory=bundled_conf)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    die_with_parent: bool = False  # SIGTERM when the forking thread ends (lifeline.py)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def output_path(self) -> Path:
        """redis-server's own stdout/stderr: where it says why it refused to start."""
        return self.data_dir / "redis.out"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    def start(self, timeout: float = 30.0) -> ManagedRedis:
        self.spawn()
        self.wait_ready(timeout)
        return self

    def spawn(self) -> None:
        """Start the process without waiting for it (with die_with_parent: fork it from a
        thread that outlives it, e.g. the main one)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [find_redis_server(), str(self.conf), "--port", str(self.port),
                "--bind", "127.0.0.1", "--dir", str(self.data_dir.resolve()),
                "--logfile", str(self.log_path.resolve()), "--daemonize", "no",
                "--pidfile", str(self.pid_path.resolve()), *self.extra_args]  # fmt: skip
        leashed = self.die_with_parent
        preexec = lifeline.parent_death_signal(signal.SIGTERM) if leashed else None
        env = os.environ | {lifeline.ENV: lifeline.DEATHSIG} if leashed else None
        with self.output_path.open("wb") as out:
            # Its own session: a Ctrl-C at the terminal reaches its owner, which stops
            # it last, not Redis first.
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                preexec_fn=preexec, env=env,
            )  # fmt: skip

    def wait_ready(self, timeout: float, until: threading.Event | None = None) -> None:
        """Wait for PING to answer and any AOF/RDB load to finish (or `until` to be set)."""
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if until is not None and until.is_set():
                    return
                if self.process is not None and self.process.poll() is not None:
                    raise ConfigError(f"redis-server exited at start: {self.log_tail()}")
                try:
                    if self._answering(client):
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise ConfigError(f"redis-server did not answer within {timeout}s: {self.log_tail()}")

    def _answering(self, client: redis.Redis) -> bool:
        """Our process answers (not another server on the port) and has loaded its data."""
        info = client.info()
        if self.process is not None and int(info["process_id"]) != self.process.pid:
            return False  # someone else's Redis on this port: ours is failing to bind
        return not int(info["loading"])

    def log_tail(self, lines: int = 15) -> str:
        """The end of what Redis said, on its output and in its log file."""
        said = [
            line
            for path in (self.output_path, self.log_path)
            if path.exists()
            for line in path.read_text(errors="replace").splitlines()
            if line.strip()
        ]
        return "\n".join(said[-lines:]) or f"(redis-server wrote nothing; log {self.log_path})"

    def kill(self) -> None:
        """kill -9: what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: Redis fsyncs the AOF and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)
