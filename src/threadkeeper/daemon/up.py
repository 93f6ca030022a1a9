"""`threadkeeper up`: the whole daemon in one foreground command.

Takes the home's lock (one `up` per home), stops whatever a dead `up` left
running there, binds the API port, then starts (unless THREADKEEPER_REDIS_URL
points elsewhere) a redis-server with the project's redis.conf and its data under
the home, the worker and the cron as child processes, and serves the API in this
process. With THREADKEEPER_API_PROCESSES=N (default: one per core, at most 4),
N-1 more API processes (`serve --shared`) each bind the port beside this one
(SO_REUSEPORT: the kernel spreads new connections among them, and a dead one's
socket leaves with it) and count their metrics together with this one
(metrics.use_multiprocess). A child
that dies is restarted after a pause that doubles at each death in a row, up to
THREADKEEPER_RESTART_BACKOFF_MAX, for as long as it takes: a crashing worker never
takes the API down. Only Redis, the hot path itself, can make `up` give up (exit
1, saying why) when it cannot be kept running.

The children die with `up`, however it ends (lifeline.py); what an earlier `up`
left anyway is stopped first (orphans.py). The children run in their own
sessions, out of the terminal's process group, so a Ctrl-C reaches `up` alone.
`up` owns SIGINT and SIGTERM (uvicorn's own handlers, which re-raise the signal
after its shutdown, are not installed): either stops every API process first,
then the worker and the cron, then Redis last so it can fsync, and `up` exits 0.
During start-up a signal ends the current step (stopping an earlier `up`'s
leftovers is finished, not abandoned), then stops all this `up` started or found;
whatever cannot be stopped is named, and `up` exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from threadkeeper import metrics
from threadkeeper.auth import auth_summary, check_bind
from threadkeeper.daemon import serving
from threadkeeper.daemon.children import Backoff, Child, Restarts
from threadkeeper.daemon.orphans import Leftover, alive, find_orphans, stop_orphans
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.daemon.serving import (
    ApiServer,
    api_config,
    api_url,
    bind_api,
    serve_until_signal,
    settings_env,
)
from threadkeeper.errors import ConfigError
from threadkeeper.health.children import write_states
from threadkeeper.home import Home, HomeLock, RunInfo
from threadkeeper.lifeline import Lifeline
from threadkeeper.settings import Settings
from threadkeeper.store import canary
from threadkeeper.store.connection import queue_url

log = logging.getLogger("threadkeeper.up")

CHECK_EVERY = 0.5
REDIS_START_TIMEOUT = 30.0
CHILD_COMMANDS = ("worker", "cron", "indexer")  # besides the API processes: add a child here


class _Stopped(Exception):
    """A signal arrived during start-up: end it here and stop everything."""


@dataclass
class Supervisor:
    settings: Settings
    redis: ManagedRedis | None = None
    apis: list[Child] = field(default_factory=list)  # the API processes beside this one
    children: list[Child] = field(default_factory=list)  # worker, cron
    leftovers: list[Leftover] = field(default_factory=list)  # an earlier `up`'s
    failed: str | None = None  # why `up` gave up, when it did
    stopping: threading.Event = field(default_factory=threading.Event)
    _stop_reason: str = ""
    _server: ApiServer | None = None
    _redis_restarts: Restarts = field(default_factory=Restarts)
    _lifeline: Lifeline | None = None

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def paths(self) -> Home:
        return Home(self.settings.home)

    def on_signal(self, signum: int, frame: object) -> None:
        """SIGINT/SIGTERM outside the event loop (start-up, shutdown): a flag, no exception."""
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            log.warning("%s: already stopping", name)
            return
        log.info("%s while starting: stopping once the current step ends", name)
        self._stop_reason = name
        self.stopping.set()

    def _check(self) -> None:
        if self.stopping.is_set():
            raise _Stopped

    def prepare(self) -> socket.socket:
        """Clear what a dead `up` left, bind the port, start Redis (the home's lock is held)."""
        self.leftovers = find_orphans(self.home)
        # Finished even when a signal comes meanwhile: stopping them is what it asks for.
        stop_orphans(self.home, self.leftovers, self.settings.stop_timeout)
        self._check()
        check_bind(self.settings.host, self.settings.auth_configured)
        if self.settings.api_processes > 1:
            metrics.use_multiprocess(_emptied(self.paths.metrics_dir))
        sock = bind_api(self.settings, shared=self.settings.api_processes > 1)
        if self.settings.redis_url is None:
            self.redis = self._start_redis()
            log.info("redis-server on %s, data in %s", self.redis.url, self.redis.data_dir)
            canary.check_home(self.redis.url, self.home)  # a lost data dir is a loss, not new
            self.settings = self.settings.with_overrides(redis_url=self.redis.url)
        if self.settings.archive_url is None:
            self.settings = self.settings.with_overrides(
                archive_url=self.settings.default_archive_url
            )
        queue_url(self.settings)  # a cluster without a queue Redis fails here, not in a child
        return sock

    def _start_redis(self) -> ManagedRedis:
        """Same port as last time when it is free (scripts may remember it), else any."""
        port = _saved_port(self.paths.redis_port_file)
        if port and not _port_free(port):
            log.warning("redis-server's previous port %d is taken; picking a free one", port)
            port = 0
        # Forked from this, the main, thread: it dies with `up` (lifeline.py).
        self.redis = ManagedRedis(self.paths.redis_dir, port=port, die_with_parent=True)
        self.redis.spawn()
        self.redis.wait_ready(REDIS_START_TIMEOUT, until=self.stopping)
        self._check()
        self.paths.redis_port_file.write_text(str(self.redis.port))
        return self.redis

    def start_children(self, sock: socket.socket) -> None:
        self.paths.logs_dir.mkdir(exist_ok=True)
        self._lifeline = Lifeline()
        # The stores `prepare` found, as `serve` hands them on; only the API processes
        # count their metrics together.
        api_env = os.environ | settings_env(self.settings) | self._lifeline.env()
        env = {name: value for name, value in api_env.items() if name != metrics.MULTIPROC_ENV}
        # Each binds the port beside this process's socket once it can serve (join_api);
        # the host comes with the environment, as it came to this process.
        port = str(sock.getsockname()[1])
        for n in range(2, self.settings.api_processes + 1):
            self.apis.append(self._child("serve", api_env, name=f"api-{n}",
                                         args=("--port", port, "--shared")))  # fmt: skip
        self.children.extend(self._child(c, env) for c in CHILD_COMMANDS)
        for child in self.apis + self.children:
            self._check()
            child.start()

    def _child(self, command: str, env: dict[str, str], name: str = "",
               args: tuple[str, ...] = ()) -> Child:  # fmt: skip
        assert self._lifeline is not None
        name = name or command
        return Child(command, env, self.paths.log(name), name=name, args=args,
                     pass_fds=(self._lifeline.read_fd,),
                     backoff=Backoff(self.settings.restart_backoff,
                                     self.settings.restart_backoff_max))  # fmt: skip

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
        states = [child.state() for child in self.apis + self.children]
        write_states(self.home, os.getpid(), states)

    def stop(self, reason: str) -> None:
        """Begin the ordered stop (the API first); a second call while stopping hurries it."""
        if self._server is None:
            return
        if self._server.should_exit:
            log.warning("%s again: closing open connections now", reason)
            self._server.force_exit = True
            return
        log.info("%s: stopping the API, then the worker and cron, then Redis", reason)
        self.stopping.set()
        self._server.should_exit = True
        for api in self.apis:  # they finish their requests while this one finishes its own
            api.terminate()

    def give_up(self, why: str) -> None:
        log.error("%s; stopping threadkeeper", why)
        self.failed = why
        self.stop("giving up")

    async def watch(self) -> None:
        """Bring back whatever dies: children after a growing pause, for as long as it
        takes; Redis likewise, but `up` gives up when it cannot be kept running."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            assert self._server is not None
            if self.stopping.is_set() and not self._server.should_exit:
                self.stop(self._stop_reason)  # signalled before the event loop took over
            if self._server.should_exit:
                return  # stopping: the API processes exit on purpose
            await self._watch_redis()
            changed = [child for child in self.apis + self.children if child.noticed_death()]
            for child in self.apis + self.children:
                if child.due():
                    child.start()
                    changed.append(child)
            if changed:
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
            self.redis.spawn()  # from the main thread, not a pool's: it dies with `up`
            await asyncio.to_thread(self.redis.wait_ready, REDIS_START_TIMEOUT)
        except (ConfigError, OSError) as exc:
            log.error("redis-server did not come back: %s", getattr(exc, "detail", exc))
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

    def shutdown(self) -> list[str]:
        """The other API processes, worker and cron, Redis last (after its fsync); what
        could not be stopped, of what this `up` started or found."""
        self.stopping.set()  # a signal from now on only says so
        for group in (self.apis, self.children):
            for child in group:
                child.terminate()
            for child in group:
                child.wait_stopped(self.settings.stop_timeout)
        if self.redis is not None:
            self.redis.stop(self.settings.stop_timeout)
            log.info("redis-server stopped; data kept in %s", self.redis.data_dir)
        if self._lifeline is not None:
            self._lifeline.close()
        self.paths.run_file.unlink(missing_ok=True)
        self.paths.children_file.unlink(missing_ok=True)
        return self._unstopped()

    def _unstopped(self) -> list[str]:
        ours = [(c.name, c.process.pid) for c in self.apis + self.children if c.process]
        if self.redis is not None and self.redis.process is not None:
            ours.append(("redis-server", self.redis.process.pid))
        found = [(f"{x.name} of an earlier `up`", x.pid) for x in self.leftovers]
        return [f"{name} (pid {pid})" for name, pid in ours + found if alive(pid)]


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


def _saved_port(path: Path) -> int:
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


def run_up(settings: Settings) -> None:
    """Run everything until SIGINT/SIGTERM; exit 1 if a part could not be kept running
    or something this `up` started or found could not be stopped."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings.with_overrides(home=home))
    lock = HomeLock(home)
    lock.acquire()
    for sig in (signal.SIGINT, signal.SIGTERM):  # until the event loop takes over
        signal.signal(sig, supervisor.on_signal)
    try:
        sock = supervisor.prepare()
        supervisor.start_children(sock)
        supervisor.record()
        supervisor._check()
        serving.run(supervisor.serve(sock))
    except _Stopped:
        log.info("stopped while starting: stopping what was started")
    finally:
        unstopped = supervisor.shutdown()
        lock.release()
    if unstopped:
        log.error("could not stop: %s", ", ".join(unstopped))
        sys.exit(1)
    if supervisor.failed:
        log.error("threadkeeper stopped: %s", supervisor.failed)
        sys.exit(1)
    log.info("threadkeeper stopped")
