"""A redis-server that threadkeeper starts and supervises itself (`threadkeeper up`, tests)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from threadkeeper.errors import ConfigError

PROJECT_CONF = Path(__file__).resolve().parents[2] / "redis.conf"


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
    """The project's redis.conf, or the copy installed inside the package."""
    if PROJECT_CONF.exists():
        return PROJECT_CONF
    return Path(__file__).resolve().parent / "redis.conf"


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

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 30.0) -> ManagedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [find_redis_server(), str(self.conf), "--port", str(self.port),
                "--bind", "127.0.0.1", "--dir", str(self.data_dir.resolve()),
                "--logfile", str(self.log_path.resolve()), "--daemonize", "no",
                *self.extra_args]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Wait for PING to answer and any AOF/RDB load to finish."""
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ConfigError(f"redis-server exited at start: {self.log_tail()}")
                try:
                    if client.ping() and not int(client.info("persistence")["loading"]):
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise ConfigError(f"redis-server did not answer within {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

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
