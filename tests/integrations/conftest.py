"""Fixtures for PAL through the adapter: PAL's own virtualenv, and a real daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pal_support import PAL_PYTHON, Pal, StartPal

from daemon_support import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """`threadkeeper up` on a temporary home and a free port."""
    started = Daemon(tmp_path / "home").start()
    yield started
    started.close()  # SIGTERM, then anything its tree left


@pytest.fixture
def start_pal(tmp_path: Path) -> Iterator[StartPal]:
    if not PAL_PYTHON.exists():
        pytest.fail(f"no PAL virtualenv at {PAL_PYTHON}: run `make pal-venv` (make test does)")
    started: list[Pal] = []

    def start(url: str, args: list[str] | None = None) -> Pal:
        started.append(Pal(url, tmp_path / "pal-state", args))
        return started[-1]

    yield start
    for pal in started:
        pal.close()
