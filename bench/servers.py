"""The processes the bench runs against, all its own and all on loopback.

redis-server with the project's redis.conf (AOF on, `appendfsync always`), a second
one with `appendfsync everysec` for the durability comparison, SeaweedFS as the S3
archive, and the API as a real uvicorn or granian subprocess (with its workers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from threadkeeper.daemon.redis_server import ManagedRedis, free_port
from threadkeeper.home import Home

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # s3server.py: how the tests start SeaweedFS

from s3server import S3Server, start_seaweedfs  # noqa: E402

__all__ = ["S3Server", "managed_redis", "seaweedfs", "api_server", "up_server"]


@contextmanager
def managed_redis(data_dir: Path, *extra_args: str) -> Iterator[ManagedRedis]:
    server = ManagedRedis(data_dir, extra_args=list(extra_args)).start()
    try:
        yield server
    finally:
        server.stop()


def redis_settings(url: str) -> dict[str, str]:
    client = redis.Redis.from_url(url)
    try:
        conf = client.config_get("appendonly") | client.config_get("appendfsync")
        return {k: str(v) for k, v in conf.items()} | {
            "redis_version": str(client.info("server")["redis_version"])
        }
    finally:
        client.close()


@contextmanager
def seaweedfs(tmp: Path) -> Iterator[S3Server]:
    with start_seaweedfs(tmp, bucket="threadkeeper-bench") as server:
        yield server


@dataclass(frozen=True, slots=True)
class ApiServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


STACKS = ("uvicorn", "granian")


def _serve_command(stack: str, port: int, workers: int) -> list[str]:
    """uvicorn (uvloop + httptools, as installed) or granian, `workers` processes."""
    here = str(Path(__file__).parent)
    if stack == "granian":
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                "--working-dir", here, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--loop", "uvloop", "--no-access-log",
                "--log-level", "warning", "serve_app:build"]  # fmt: skip
    return [sys.executable, "-m", "uvicorn", "--factory", "serve_app:build",
            "--app-dir", here, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip


@contextmanager
def api_server(
    tmp: Path,
    redis_url: str,
    *,
    max_page: int | None = None,
    http_stack: str = "uvicorn",
    workers: int = 1,
    queue_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ApiServer]:
    """The real app served by `http_stack` in `workers` processes, access log off.

    `queue_url` is the standalone Redis the RQ queue lives on: required when `redis_url`
    is a cluster, which cannot hold the queue."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    env |= {
        "THREADKEEPER_REDIS_URL": redis_url,
        "THREADKEEPER_ARCHIVE_URL": (tmp / "archive").as_uri(),
        "THREADKEEPER_HOME": str(tmp / "home"),
    }
    if max_page is not None:
        env["THREADKEEPER_MAX_PAGE"] = str(max_page)
    if queue_url is not None:
        env["THREADKEEPER_QUEUE_REDIS_URL"] = queue_url
    env |= extra_env or {}
    command = _serve_command(http_stack, port, workers)
    log_path = tmp / "uvicorn.log"
    with ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        stack.callback(_stop, process)
        server = ApiServer("127.0.0.1", port, process, log_path)
        _wait_http(server)
        yield server


def _wait_http(server: ApiServer, path: str = "/healthz", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{server.host}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the API exited: {server.log_path.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the API did not answer on {url} within {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The server and its worker processes: its own process group, by its id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass(frozen=True, slots=True)
class UpServer:
    """A running `threadkeeper up`: where its API listens and the Redis it serves."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    home: Path
    redis_url: str


@contextmanager
def up_server(
    tmp: Path, redis_url: str | None = None, env: dict[str, str] | None = None
) -> Iterator[UpServer]:
    """`threadkeeper up` with its default settings (plus `env`), as a user starts it.

    Without `redis_url` it starts its own redis-server under its home, as it ships.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    clean |= env or {}
    if redis_url is not None:
        clean |= {"THREADKEEPER_REDIS_URL": redis_url,
                  "THREADKEEPER_ARCHIVE_URL": (tmp / "archive").as_uri()}  # fmt: skip
    home = tmp / "home"
    command = [sys.executable, "-m", "threadkeeper", "up", "--home", str(home),
               "--port", str(port)]  # fmt: skip
    log_path = tmp / "up.log"
    with ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen(
            command, env=clean, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        stack.callback(_stop_up, process, home)
        _wait_http(ApiServer("127.0.0.1", port, process, log_path), path="/readyz", timeout=90)
        info = json.loads(Home(home).run_file.read_text())
        yield UpServer("127.0.0.1", port, process, home, info["redis_url"])


def _stop_up(process: subprocess.Popen[bytes], home: Path) -> None:
    """SIGTERM to `up` stops its tree in order; whatever is left after, by pid."""
    run = Home(home).run_file
    info = json.loads(run.read_text()) if run.exists() else {}
    left = [*info.get("children", {}).values(), info.get("redis_pid")]
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    for pid in left:
        if pid:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
