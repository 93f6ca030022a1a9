"""Fixtures for the CLI: the real commands over a real Redis and a real archive."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cli_support import Harness
from click.testing import CliRunner

from s3server import S3Server


def _s3_env(server: S3Server) -> dict[str, str]:
    return {"THREADKEEPER_ARCHIVE_URL": f"s3://{server.bucket}/cli-{uuid.uuid4().hex}",
            **server.env()}  # fmt: skip


def _make_harness(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path, extra: dict[str, str]
) -> Harness:  # extra: also RQ's Redis (queue_env) when the hot store is the cluster
    env = {
        "THREADKEEPER_REDIS_URL": redis_url,
        "THREADKEEPER_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
        "THREADKEEPER_HOME": str(tmp_path / "home"),
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Harness(env, redis_url, CliRunner())


@pytest.fixture
def tk(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path, queue_env: dict[str, str]
) -> Harness:
    """The CLI over the test's Redis and a file archive in tmp_path."""
    return _make_harness(monkeypatch, redis_url, tmp_path, queue_env)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def tk_any(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    tmp_path: Path,
    queue_env: dict[str, str],
) -> Harness:
    """The CLI over each archive backend: a file archive, then the real S3 server."""
    extra = dict(queue_env)
    if request.param == "s3":
        extra |= _s3_env(request.getfixturevalue("s3_server"))
    return _make_harness(monkeypatch, redis_url, tmp_path, extra)
