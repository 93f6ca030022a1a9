"""Serving the API under uvicorn, for `up` and `serve`: the listening socket, the
server without its signal handlers, `threadkeeper serve` itself, and one write per
response.

`up` (up.py) binds the port with `bind_api` before anything starts and serves with
`api_config` and `serve_until_signal` in its own process; `serve_only` is the
`serve` command, alone on a port, or as one of `up`'s extra API processes
(`serve --shared`), each on a socket of its own on `up`'s port (`join_api`).

uvicorn writes a response's status line and headers, then its body, as two writes;
on an idle connection each is its own send(2), a wake-up of the client and, before
TCP_NODELAY, a wait for its delayed ACK. `CoalescingHttpProtocol` gathers what
one turn of the event loop writes to a connection and sends it as one piece, right
after that turn: the headers and body of a response leave together.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Coroutine, Generator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from threadkeeper import metrics
from threadkeeper.api import create_app
from threadkeeper.auth import auth_summary, check_bind
from threadkeeper.errors import ConfigError
from threadkeeper.settings import LOG_FORMAT, PREFIX, Settings

T = TypeVar("T")

log = logging.getLogger("threadkeeper.up")  # one name for the daemon's lines, `serve`'s too


class ApiServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: `up` owns SIGINT and SIGTERM."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def api_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        log_config=None,  # one log format: ours (see cli.main)
        access_log=settings.access_log,
        lifespan="on",
        http=CoalescingHttpProtocol,  # headers and body in one send
    )


async def serve_until_signal(
    server: ApiServer, sock: socket.socket, on_signal: Callable[[str], None]
) -> None:
    """Serve on `sock`; SIGINT and SIGTERM call `on_signal` with the signal's name."""
    loop = asyncio.get_running_loop()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in before:
        loop.add_signal_handler(sig, on_signal, signal.Signals(sig).name)
    try:
        await server.serve(sockets=[sock])
    finally:
        for sig, handler in before.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)  # not the default: that would let a signal kill `up`


def serve_only(settings: Settings, workers: int = 1, shared: bool = False) -> None:
    """`threadkeeper serve`: the API alone; SIGINT/SIGTERM stop it and it exits 0.

    `shared` joins the port of the `up` that runs this as one of its API processes
    (`join_api`) instead of binding a port of its own.
    """
    check_bind(settings.host, settings.auth_configured)
    if workers > 1:
        return _serve_workers(settings, workers)
    sock = join_api(settings) if shared else bind_api(settings)
    server = ApiServer(api_config(settings))

    def stop(reason: str) -> None:
        log.info("%s: stopping the API", reason)
        server.force_exit = server.should_exit
        server.should_exit = True

    log.info("threadkeeper API on %s; %s", api_url(settings), auth_summary(settings))
    run(serve_until_signal(server, sock, stop))


def _serve_workers(settings: Settings, workers: int) -> None:
    """N uvicorn worker processes on one port (uvicorn's own supervisor handles signals)."""
    # Each worker builds its app from the environment: hand it what load_settings found
    # (the Redis and archive of a running `up`).
    os.environ.update(settings_env(settings))
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


def settings_env(settings: Settings) -> dict[str, str]:
    """The variables that make Settings.from_env() in another process (`serve`'s
    workers, `up`'s children) find these stores and this home."""
    found = {"REDIS_URL": settings.redis_url, "ARCHIVE_URL": settings.archive_url,
             "QUEUE_REDIS_URL": settings.queue_redis_url, "HOME": str(settings.home)}  # fmt: skip
    return {PREFIX + name: value for name, value in found.items() if value is not None}


def api_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}"


def bind_api(settings: Settings, *, shared: bool = False) -> socket.socket:
    """The API's listening socket, bound before anything starts: a busy port fails here.

    `shared`: the first of `up`'s API processes, which the others join (`join_api`).
    It binds the port alone first, so that a port anyone holds, another `up` with
    processes of its own included, still fails here instead of being shared with it.
    """
    if shared:
        _listen(settings, reuse_port=False).close()
    return _listen(settings, reuse_port=shared)


def join_api(settings: Settings) -> socket.socket:
    """A socket of its own, on the port `up` bound, for each of its other API processes.

    The kernel spreads new connections among the sockets of one port (SO_REUSEPORT),
    and a dead process's socket leaves with it. On one shared socket, each event loop
    accepted every connection waiting when it woke, and a burst went to one process:
    31 of 32 connections (BENCHMARKS.md).
    """
    return _listen(settings, reuse_port=True)


def _listen(settings: Settings, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio turns on TCP_NODELAY
    # only where it reads IPPROTO_TCP; without it a response written in two pieces
    # waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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


class _CoalescingTransport:
    """A transport whose writes within one loop turn leave as one send; the rest passes."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if self._transport.is_closing():
            return
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:  # uvloop's writelines is one writev, without copying a large body
            self._transport.writelines(pending)

    def close(self) -> None:
        self._flush()  # a response written just before closing still goes out
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a _CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop where it is installed (as uvicorn's own `run` would pick)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
