from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from s3server import S3Server
from threadkeeper.archive import Archive
from threadkeeper.archive.local import LocalArchive
from threadkeeper.archive.s3 import S3Archive

MakeS3Archive = Callable[..., S3Archive]


@pytest.fixture
def make_s3_archive(s3_server: S3Server) -> MakeS3Archive:
    """Factory: an S3Archive on the test server, under a prefix no other test uses."""

    def make(bucket: str | None = None, **options: Any) -> S3Archive:
        options.setdefault("endpoint_url", s3_server.endpoint_url)
        options.setdefault("session", s3_server.session())
        return S3Archive(bucket or s3_server.bucket, f"test-{uuid.uuid4().hex}", **options)

    return make


@pytest.fixture
def s3_archive(make_s3_archive: MakeS3Archive) -> S3Archive:
    return make_s3_archive()


@pytest.fixture
def local_archive(tmp_path: Path) -> LocalArchive:
    archive = LocalArchive(tmp_path / "archive")
    archive.create_root()
    return archive


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def archive(request: pytest.FixtureRequest) -> Archive:
    """The contract tests run against every backend."""
    backend: Archive = request.getfixturevalue(f"{request.param}_archive")
    return backend
