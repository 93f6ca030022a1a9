"""`threadkeeper up`: the whole daemon in one foreground command.

Starts (unless THREADKEEPER_REDIS_URL points elsewhere) a redis-server with the
project's redis.conf and its data under the home, then the worker and the cron as
child processes, then the API in this process. Restarts a child that dies (Redis
reloads its AOF), and on Ctrl-C stops everything, Redis last so it can fsync.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from threadkeeper import canary
from threadkeeper.api import create_app
from threadkeeper.errors import ConfigError
from threadkeeper.home import write_run_file
from threadkeeper.redis_server import ManagedRedis
from threadkeeper.settings import PREFIX, Settings
from threadkeeper.tokens import check_bind

log = logging.getLogger("threadkeeper.up")

CHECK_EVERY = 1.0
CHILD_COMMANDS = ("worker", "cron")


@dataclass
class Child:
    command: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        out = self.log_path.open("ab")
        args = [sys.executable, "-m", "threadkeeper", self.command]
        self.process = subprocess.Popen(args, env=self.env, stdout=out, stderr=out)
        out.close()
        log.info("started %s (pid %d, log %s)", self.command, self.process.pid, self.log_path)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Supervisor:
    settings: Settings
    redis: ManagedRedis | None = None
    children: list[Child] = field(default_factory=list)

    def prepare(self) -> Settings:
        """Start Redis if we manage it, and settle the URLs every process will use."""
        home = self.settings.home.resolve()
        home.mkdir(parents=True, exist_ok=True)
        check_bind(self.settings.host, self.settings.tokens_file is not None)
        settings = self.settings.with_overrides(home=home)
        if settings.redis_url is None:
            self.redis = _start_redis(home)
            (home / "redis" / "port").write_text(str(self.redis.port))
            log.info("redis-server on %s, data in %s", self.redis.url, self.redis.data_dir)
            canary.check_home(self.redis.url, home)  # a lost data dir is a loss, not a new start
            settings = settings.with_overrides(redis_url=self.redis.url)
        if settings.archive_url is None:
            settings = settings.with_overrides(archive_url=settings.default_archive_url)
        self.settings = settings
        return settings

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[PREFIX + "REDIS_URL"] = self.settings.redis_url or ""
        env[PREFIX + "ARCHIVE_URL"] = self.settings.archive_url or ""
        env[PREFIX + "HOME"] = str(self.settings.home)
        return env

    def start_children(self) -> None:
        logs = self.settings.home / "logs"
        logs.mkdir(exist_ok=True)
        env = self.child_env()
        for command in CHILD_COMMANDS:
            child = Child(command, env, logs / f"{command}.log")
            child.start()
            self.children.append(child)

    async def watch(self) -> None:
        """Bring back whatever dies; Redis recovers its data from the AOF on restart."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            if self.redis is not None and self.redis.process is not None:
                if self.redis.process.poll() is not None:
                    log.error("redis-server exited (code %s); restarting it on the same data",
                              self.redis.process.returncode)  # fmt: skip
                    await asyncio.to_thread(self.redis.start)
            for child in self.children:
                if not child.alive():
                    child.restarts += 1
                    log.error(
                        "%s exited; restarting it (restart %d)", child.command, child.restarts
                    )
                    child.start()

    def shutdown(self) -> None:
        for child in self.children:
            child.stop()
        if self.redis is not None:
            self.redis.stop()
            log.info("redis-server stopped; data kept in %s", self.redis.data_dir)

    async def serve(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            host=self.settings.host,
            port=self.settings.port,
            log_level="info",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        watcher = asyncio.create_task(self.watch())
        try:
            await server.serve()
        finally:
            watcher.cancel()


def _saved_port(home: Path) -> int:
    path = home / "redis" / "port"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0


def _start_redis(home: Path) -> ManagedRedis:
    """Same port as last time when it is free (scripts may remember it), else any."""
    try:
        return ManagedRedis(home / "redis", port=_saved_port(home)).start()
    except ConfigError:
        log.warning("redis-server could not use its previous port; picking a free one")
        return ManagedRedis(home / "redis").start()


def run_up(settings: Settings) -> None:
    supervisor = Supervisor(settings)
    try:
        supervisor.prepare()
        api = f"http://{settings.host}:{settings.port}"
        write_run_file(supervisor.settings.home, supervisor.settings.redis_url or "",
                       supervisor.settings.archive_url, api)  # fmt: skip
        supervisor.start_children()
        log.info("threadkeeper is up: API %s, archive %s", api, supervisor.settings.archive_url)
        asyncio.run(supervisor.serve())
    except KeyboardInterrupt:
        log.info("interrupted: stopping")  # uvicorn re-raises Ctrl-C after its clean shutdown
    finally:
        supervisor.shutdown()
