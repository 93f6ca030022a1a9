"""Fixtures for `threadkeeper up` tests: a started daemon that is always stopped after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon_support import Daemon


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Daemons on homes under tmp_path (unstarted); each is stopped and checked after."""
    made: list[Daemon] = []

    def make(home: Path | None = None, executable: str | None = None) -> Daemon:
        daemon = Daemon(home or tmp_path / "home", executable)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon().start()
