"""`threadkeeper up`: the whole daemon in one foreground command.

Takes the home's lock (one `up` per home), stops whatever a dead `up` left
running there, binds the API port, then starts (unless THREADKEEPER_REDIS_URL
points elsewhere) a redis-server with the project's redis.conf and its data under
the home, the worker and the cron as child processes, and serves the API in this
process. With THREADKEEPER_API_PROCESSES=N (default: one per core, at most 4),
N-1 more API processes (`serve --fd`) accept on the same listening socket and
count their metrics together with this one (metrics.use_multiprocess). A child
that dies is restarted (Redis reloads its AOF), with a growing pause, and `up`
gives up (exit 1) rather than loop when one cannot start.

The children run in their own sessions, out of the terminal's process group, so a
Ctrl-C reaches `up` alone. `up` owns SIGINT and SIGTERM (uvicorn's own handlers,
which re-raise the signal after its shutdown, are not installed): either stops
every API process first, then the worker and the cron, then Redis last so it
can fsync, and `up` exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from threadkeeper import metrics
from threadkeeper.api import create_app
from threadkeeper.auth import auth_summary, check_bind
from threadkeeper.daemon import serving
from threadkeeper.daemon.children import Child, Restarts
from threadkeeper.daemon.home import HomeLock, RunInfo, run_file
from threadkeeper.daemon.orphans import stop_orphans
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.errors import ConfigError
from threadkeeper.settings import LOG_FORMAT, PREFIX, Settings
from threadkeeper.store import canary
from threadkeeper.store.connection import queue_url

log = logging.getLogger("threadkeeper.up")

CHECK_EVERY = 0.5
CHILD_COMMANDS = ("worker", "cron")


class ApiServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: `up` owns SIGINT and SIGTERM."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Supervisor:
    settings: Settings
    redis: ManagedRedis | None = None
    apis: list[Child] = field(default_factory=list)  # the API processes beside this one
    children: list[Child] = field(default_factory=list)  # worker, cron
    failed: str | None = None  # why `up` gave up, when it did
    _server: ApiServer | None = None
    _redis_restarts: Restarts = field(default_factory=Restarts)

    @property
    def home(self) -> Path:
        return self.settings.home

    def prepare(self) -> socket.socket:
        """Clear what a dead `up` left, bind the port, start Redis (the home's lock is held)."""
        stop_orphans(self.home, self.home / "redis")
        check_bind(self.settings.host, self.settings.auth_configured)
        if self.settings.api_processes > 1:
            metrics.use_multiprocess(_emptied(self.home / "metrics"))
        sock = bind_api(self.settings)
        if self.settings.redis_url is None:
            self.redis = _start_redis(self.home)
            log.info("redis-server on %s, data in %s", self.redis.url, self.redis.data_dir)
            canary.check_home(self.redis.url, self.home)  # a lost data dir is a loss, not new
            self.settings = self.settings.with_overrides(redis_url=self.redis.url)
        if self.settings.archive_url is None:
            self.settings = self.settings.with_overrides(
                archive_url=self.settings.default_archive_url
            )
        queue_url(self.settings)  # a cluster without a queue Redis fails here, not in a child
        return sock

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[PREFIX + "REDIS_URL"] = self.settings.redis_url or ""
        env[PREFIX + "ARCHIVE_URL"] = self.settings.archive_url or ""
        env[PREFIX + "HOME"] = str(self.home)
        env.pop(metrics.MULTIPROC_ENV, None)  # only the API processes count together
        return env

    def start_children(self, sock: socket.socket) -> None:
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        env = self.child_env()
        fd = sock.fileno()
        api_env = env | {metrics.MULTIPROC_ENV: os.environ.get(metrics.MULTIPROC_ENV, "")}
        for n in range(2, self.settings.api_processes + 1):
            self.apis.append(Child("serve", api_env, logs / f"api-{n}.log", name=f"api-{n}",
                                   args=("--fd", str(fd)), pass_fds=(fd,)))  # fmt: skip
        self.children.extend(Child(c, env, logs / f"{c}.log") for c in CHILD_COMMANDS)
        for child in self.apis + self.children:
            child.start()

    def record(self) -> None:
        """run.json: where this `up` listens and its children's pids, for other commands."""
        RunInfo(
            pid=os.getpid(),
            api=api_url(self.settings),
            redis_url=self.settings.redis_url or "",
            archive_url=self.settings.archive_url,
            redis_pid=self.redis.process.pid if self.redis and self.redis.process else None,
            children={c.name: c.process.pid for c in self.apis + self.children if c.process},
            queue_url=self.settings.queue_redis_url,
        ).write(self.home)

    def stop(self, reason: str) -> None:
        """Begin the ordered stop (the API first); a second call while stopping hurries it."""
        if self._server is None:
            return
        if self._server.should_exit:
            log.warning("%s again: closing open connections now", reason)
            self._server.force_exit = True
            return
        log.info("%s: stopping the API, then the worker and cron, then Redis", reason)
        self._server.should_exit = True
        for api in self.apis:  # they finish their requests while this one finishes its own
            api.terminate()

    def give_up(self, why: str) -> None:
        log.error("%s; stopping threadkeeper", why)
        self.failed = why
        self.stop("giving up")

    async def watch(self) -> None:
        """Bring back whatever dies, pausing longer each time; give up rather than loop."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            if self._server is not None and self._server.should_exit:
                return  # stopping: the API processes exit on purpose
            await self._watch_redis()
            for child in self.apis + self.children:
                if not child.alive() and child.restarts.due():
                    if child.restarts.exhausted():
                        return self.give_up(f"{child.name} keeps exiting (see {child.log_path})")
                    log.error("%s exited (code %s); restarting it", child.name, child.code())
                    child.restarts.note()
                    child.start()
                    self.record()

    async def _watch_redis(self) -> None:
        process = self.redis.process if self.redis is not None else None
        if self.redis is None or process is None or process.poll() is None:
            return
        if not self._redis_restarts.due():
            return
        if self._redis_restarts.exhausted():
            return self.give_up(f"redis-server cannot be kept running: {self.redis.log_tail(5)}")
        log.error(
            "redis-server exited (code %s); restarting it on the same data", process.returncode
        )
        self._redis_restarts.note()
        try:
            await asyncio.to_thread(self.redis.start)
        except ConfigError as exc:
            log.error("redis-server did not come back: %s", exc.detail)
            return
        self.record()

    async def serve(self, sock: socket.socket) -> None:
        self._server = ApiServer(api_config(self.settings))
        tasks = [asyncio.create_task(self.watch()), asyncio.create_task(self._announce())]
        try:
            await serve_until_signal(self._server, sock, self.stop)
        finally:
            for task in tasks:
                task.cancel()

    async def _announce(self) -> None:
        """The banner, once the API is really accepting connections."""
        assert self._server is not None
        while not self._server.started:
            await asyncio.sleep(0.05)
        log.info("%s", banner(self.settings))

    def shutdown(self) -> None:
        """The other API processes, worker and cron, Redis last (after its fsync).

        `up` ignores signals meanwhile.
        """
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for group in (self.apis, self.children):
            for child in group:
                child.terminate()
            for child in group:
                child.wait_stopped(self.settings.stop_timeout)
        if self.redis is not None:
            self.redis.stop(self.settings.stop_timeout)
            log.info("redis-server stopped; data kept in %s", self.redis.data_dir)
        run_file(self.home).unlink(missing_ok=True)


def api_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        log_config=None,  # one log format: ours (see cli.main)
        access_log=settings.access_log,
        lifespan="on",
        http=serving.CoalescingHttpProtocol,  # headers and body in one send
    )


async def serve_until_signal(
    server: ApiServer, sock: socket.socket, on_signal: Callable[[str], None]
) -> None:
    """Serve on `sock`; SIGINT and SIGTERM call `on_signal` with the signal's name."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, signal.Signals(sig).name)
    try:
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve_only(settings: Settings, workers: int = 1, fd: int | None = None) -> None:
    """`threadkeeper serve`: the API alone; SIGINT/SIGTERM stop it and it exits 0.

    `fd` is a listening socket inherited from `up`, which runs this as one of its
    API processes, instead of a port of its own.
    """
    check_bind(settings.host, settings.auth_configured)
    if workers > 1:
        return _serve_workers(settings, workers)
    sock = bind_api(settings) if fd is None else socket.socket(fileno=fd)
    server = ApiServer(api_config(settings))

    def stop(reason: str) -> None:
        log.info("%s: stopping the API", reason)
        server.force_exit = server.should_exit
        server.should_exit = True

    log.info("threadkeeper API on %s; %s", api_url(settings), auth_summary(settings))
    serving.run(serve_until_signal(server, sock, stop))


def _serve_workers(settings: Settings, workers: int) -> None:
    """N uvicorn worker processes on one port (uvicorn's own supervisor handles signals)."""
    # Each worker builds its app from the environment: hand it what load_settings found
    # (the Redis and archive of a running `up`).
    os.environ.update(serving_env(settings))
    log.info("threadkeeper API on %s, %d workers; %s", api_url(settings), workers,
             auth_summary(settings))  # fmt: skip
    # The workers start afresh and read this: their counters are summed at every /metrics.
    with tempfile.TemporaryDirectory(prefix="threadkeeper-metrics-") as counted:
        os.environ[metrics.MULTIPROC_ENV] = counted
        try:
            uvicorn.run("threadkeeper.api:app_from_env", factory=True, workers=workers,
                        host=settings.host, port=settings.port, log_config=WORKER_LOGGING,
                        access_log=settings.access_log)  # fmt: skip
        except KeyboardInterrupt:
            pass  # uvicorn re-raises Ctrl-C after its clean shutdown


# Worker processes configure logging afresh (uvicorn applies this in each): our format.
WORKER_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": {"format": LOG_FORMAT}},
    "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
    "root": {"handlers": ["default"], "level": "INFO"},
}


def serving_env(settings: Settings) -> dict[str, str]:
    """The variables that make Settings.from_env() in a worker process find these stores."""
    found = {"REDIS_URL": settings.redis_url, "ARCHIVE_URL": settings.archive_url,
             "QUEUE_REDIS_URL": settings.queue_redis_url, "HOME": str(settings.home)}  # fmt: skip
    return {PREFIX + name: value for name, value in found.items() if value is not None}


def api_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}"


def bind_api(settings: Settings) -> socket.socket:
    """The API's listening socket, bound before anything starts: a busy port fails here."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio turns on TCP_NODELAY
    # only where it reads IPPROTO_TCP; without it a response written in two pieces
    # waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}): another "
            "program has that port. Choose another with `--port N` or THREADKEEPER_PORT"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _emptied(directory: Path) -> Path:
    """`directory`, empty: what an earlier `up` counted there is not this one's."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    return directory


def banner(settings: Settings) -> str:
    api = api_url(settings)
    home = f" --home {settings.home}"
    n = settings.api_processes
    processes = "1 process" if n == 1 else f"{n} processes"
    return "\n".join([
        f"threadkeeper is up: API {api} ({processes}), archive {settings.archive_url}",
        f"  {auth_summary(settings)}",
        "  next steps:",
        f"    curl -s -X POST {api}/v1/threads -H 'Content-Type: application/json' "
        "-d '{\"turns\": [{\"role\": \"user\", \"content\": \"hello\"}]}'",
        f"    threadkeeper health{home}     is the data safe?",
        f"    threadkeeper status{home}     pids, ports, URLs",
        f"    {api}/openapi.json   the API (README.md: Commands, Runbook)",
        "    Ctrl-C or `threadkeeper stop` stops it: the API, worker and cron, then Redis",
    ])  # fmt: skip


def _saved_port(home: Path) -> int:
    path = home / "redis" / "port"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_redis(home: Path) -> ManagedRedis:
    """Same port as last time when it is free (scripts may remember it), else any."""
    port = _saved_port(home)
    if port and not _port_free(port):
        log.warning("redis-server's previous port %d is taken; picking a free one", port)
        port = 0
    redis = ManagedRedis(home / "redis", port=port).start()
    (home / "redis" / "port").write_text(str(redis.port))
    return redis


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(settings: Settings) -> None:
    """Run everything until SIGINT/SIGTERM; exit 1 if a part could not be kept running."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings.with_overrides(home=home))
    lock = HomeLock(home)
    lock.acquire()
    signal.signal(signal.SIGTERM, _interrupt)  # until the event loop takes over
    try:
        sock = supervisor.prepare()
        supervisor.start_children(sock)
        supervisor.record()
        serving.run(supervisor.serve(sock))
    except KeyboardInterrupt:
        log.info("interrupted while starting: stopping")
    finally:
        supervisor.shutdown()
        lock.release()
    if supervisor.failed:
        sys.exit(1)
    log.info("threadkeeper stopped")
