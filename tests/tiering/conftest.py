"""Fixtures for the cold tier: runtimes over both archives, a fake clock, outages, processes."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from proxy import Forwarder
from tiering_support import Backend, Clock, MakeRuntime, Proc

from s3server import S3Server
from threadkeeper.archive import Archive
from threadkeeper.archive.local import LocalArchive
from threadkeeper.archive.s3 import S3Archive
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings

# -- archives -------------------------------------------------------------------


def _local(tmp_path: Path) -> Iterator[Backend]:
    root = tmp_path / "archive"
    root.mkdir()
    aside = tmp_path / "archive.aside"

    def cut() -> None:  # a plain file where the directory was: every call fails
        root.rename(aside)
        root.write_text("not a directory")

    def restore() -> None:
        root.unlink()
        aside.rename(root)

    yield Backend("local", LocalArchive(root), cut, restore)


def _s3(server: S3Server) -> Iterator[Backend]:
    target = urlsplit(server.endpoint_url)
    forwarder = Forwarder(target.hostname or "127.0.0.1", target.port or 80).start()
    archive = S3Archive(
        server.bucket, f"test-{uuid.uuid4().hex}", endpoint_url=forwarder.url,
        session=server.session(), max_attempts=2, connect_timeout=1, read_timeout=5,
    )  # fmt: skip
    try:
        yield Backend("s3", archive, forwarder.cut, forwarder.restore)
    finally:
        forwarder.cut()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every cold-tier test runs against the file archive and a real S3 server."""
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _s3(request.getfixturevalue("s3_server"))


@pytest.fixture
def local_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from _local(tmp_path)


# -- runtimes -------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_runtime(
    make_settings: Callable[..., Settings], clock: Clock
) -> AsyncIterator[MakeRuntime]:
    """A Runtime on the test's Redis with the given archive, the fake clock unless told."""
    built: list[Runtime] = []

    def make(archive: Archive | None, *, real_clock: bool = False, **overrides: Any) -> Runtime:
        settings = make_settings(**overrides)
        runtime = build_runtime(settings, archive=archive)
        if not real_clock:
            runtime.store.clock = clock
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.close()


# -- processes ------------------------------------------------------------------


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start a process in its own group; at teardown its whole group is stopped."""
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str], name: str) -> Proc:
        log = tmp_path / f"{name}-{len(started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        proc = Proc(popen, log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        _stop_group(proc.popen)


def _stop_group(popen: subprocess.Popen[bytes]) -> None:
    pgid = popen.pid  # start_new_session: the group is the child's own
    if popen.poll() is None:
        with _gone():
            os.killpg(pgid, signal.SIGTERM)
        try:
            popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with _gone():
        os.killpg(pgid, signal.SIGKILL)  # also whatever the child left behind (rq's scheduler)
    popen.wait(timeout=15)


@contextmanager
def _gone() -> Iterator[None]:
    try:
        yield
    except ProcessLookupError:
        pass
