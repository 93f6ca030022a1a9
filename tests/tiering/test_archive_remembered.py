"""A restart never re-creates, empty, the directory of an archive that held snapshots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tiering_support import new_thread

from threadkeeper.archive.local import LocalArchive
from threadkeeper.errors import ArchiveUnavailable
from threadkeeper.models import ArchiveStatus
from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings

pytestmark = pytest.mark.anyio


async def test_a_restart_finds_the_archived_to_directory_gone_and_leaves_it_gone(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    settings = make_settings(archive_url=root.as_uri())
    first = build_runtime(settings)
    try:
        await new_thread(first, "kept")
        archived = await first.tiering.archiver.archive_thread("default", "kept")
        assert archived == ArchiveStatus.ARCHIVED
    finally:
        await first.close()
    root.rename(tmp_path / "archive.unmounted")

    again = build_runtime(settings)  # the next start of any process
    try:
        assert not root.exists()  # not re-created: the threads archived there would read as lost
        assert isinstance(again.archive, LocalArchive)
        with pytest.raises(ArchiveUnavailable, match="missing"):
            again.archive.ping()  # so /readyz and health say what is wrong
    finally:
        await again.close()


async def test_a_new_archive_gets_its_directory(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    root = tmp_path / "never-used" / "archive"
    runtime = build_runtime(make_settings(archive_url=root.as_uri()))
    try:
        assert root.is_dir()
        assert isinstance(runtime.archive, LocalArchive)
        runtime.archive.ping()
    finally:
        await runtime.close()
