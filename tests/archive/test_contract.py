"""The Archive contract, run against every backend (the `archive` fixture), then the
local directory backend's own behaviour and the URLs that choose a backend."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from threadkeeper.archive import Archive, open_archive
from threadkeeper.archive.local import LocalArchive
from threadkeeper.errors import (
    ArchiveObjectExists,
    ArchiveObjectMissing,
    ArchiveUnavailable,
    ConfigError,
    SnapshotCorrupt,
)

KEY = "acme/th-1/000000000007.tks"
BAD_KEYS = ["", "/etc/passwd", "../outside", "a/../../b", "a//b", "a/./b", "a/", "a\\b", "a\0b"]


# The contract: every backend.


def test_put_then_get(archive: Archive) -> None:
    archive.put_if_absent(KEY, b"snapshot bytes")
    assert archive.get(KEY, max_bytes=100) == b"snapshot bytes"


def test_empty_object(archive: Archive) -> None:
    archive.put_if_absent(KEY, b"")
    assert archive.get(KEY, max_bytes=0) == b""


def test_put_of_identical_bytes_twice_succeeds(archive: Archive) -> None:
    archive.put_if_absent(KEY, b"same")
    archive.put_if_absent(KEY, b"same")
    assert archive.get(KEY, max_bytes=100) == b"same"


@pytest.mark.parametrize("other", [b"different", b"samf", b"same plus more"])
def test_put_of_other_bytes_never_overwrites(archive: Archive, other: bytes) -> None:
    archive.put_if_absent(KEY, b"same")
    with pytest.raises(ArchiveObjectExists) as caught:
        archive.put_if_absent(KEY, other)
    assert KEY in caught.value.detail and archive.url in caught.value.detail
    assert archive.get(KEY, max_bytes=100) == b"same"


def test_get_of_a_missing_key(archive: Archive) -> None:
    with pytest.raises(ArchiveObjectMissing) as caught:
        archive.get(KEY, max_bytes=100)
    assert caught.value.status == 404
    assert KEY in caught.value.detail and archive.url in caught.value.detail


def test_get_refuses_an_object_over_max_bytes(archive: Archive) -> None:
    archive.put_if_absent(KEY, b"x" * 101)
    with pytest.raises(SnapshotCorrupt, match="101 bytes, over the limit of 100"):
        archive.get(KEY, max_bytes=100)
    assert archive.get(KEY, max_bytes=101) == b"x" * 101


def test_list_keys_is_sorted_and_scoped_by_prefix(archive: Archive) -> None:
    keys = [
        "acme/th-1/000000000002.tks",
        "acme/th-1/000000000001.tks",
        "acme/th-1/tombstone.json",
        "acme/th-1-fork/000000000001.tks",
        "acme/th-10/000000000001.tks",
        "acme/th.x/000000000003.tks",
        "other/th-1/000000000001.tks",
    ]
    for key in keys:
        archive.put_if_absent(key, key.encode())
    assert list(archive.list_keys("")) == sorted(keys)
    assert list(archive.list_keys("acme/th-1/")) == sorted(keys[:3])
    assert list(archive.list_keys("acme/th-1")) == sorted(keys[:5])
    assert list(archive.list_keys("nobody/")) == []


def test_delete(archive: Archive) -> None:
    archive.put_if_absent(KEY, b"v1")
    archive.delete(KEY)
    with pytest.raises(ArchiveObjectMissing):
        archive.get(KEY, max_bytes=100)
    assert list(archive.list_keys("")) == []
    archive.put_if_absent(KEY, b"v2")
    assert archive.get(KEY, max_bytes=100) == b"v2"


def test_delete_of_a_missing_key_is_fine(archive: Archive) -> None:
    archive.delete(KEY)


def test_ping(archive: Archive) -> None:
    archive.ping()


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(archive: Archive, key: str) -> None:
    with pytest.raises(ValueError, match="archive key"):
        archive.put_if_absent(key, b"x")
    with pytest.raises(ValueError, match="archive key"):
        archive.get(key, max_bytes=10)
    with pytest.raises(ValueError, match="archive key"):
        archive.delete(key)


def test_racing_puts_of_different_bytes_leave_exactly_one_winner(archive: Archive) -> None:
    outcomes: list[bytes | None] = []

    def put(data: bytes) -> None:
        try:
            archive.put_if_absent(KEY, data)
            outcomes.append(data)
        except ArchiveObjectExists:
            outcomes.append(None)

    threads = [threading.Thread(target=put, args=(b"writer %d" % i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [data for data in outcomes if data is not None]
    assert len(outcomes) == 8 and len(winners) == 1
    assert archive.get(KEY, max_bytes=100) == winners[0]


# The local directory backend.


def test_local_layout_is_one_file_per_key(local_archive: LocalArchive) -> None:
    local_archive.put_if_absent(KEY, b"bytes")
    assert (local_archive.root / KEY).read_bytes() == b"bytes"
    assert local_archive.url == local_archive.root.as_uri()


def test_local_put_leaves_no_temp_files(local_archive: LocalArchive) -> None:
    local_archive.put_if_absent(KEY, b"a")
    with pytest.raises(ArchiveObjectExists):
        local_archive.put_if_absent(KEY, b"b")
    files = [p.name for p in local_archive.root.rglob("*") if p.is_file()]
    assert files == ["000000000007.tks"]


def test_local_listing_skips_an_interrupted_write(local_archive: LocalArchive) -> None:
    local_archive.put_if_absent(KEY, b"a")
    (local_archive.root / "acme/th-1/.tk-tmp-crashed").write_bytes(b"half")
    assert list(local_archive.list_keys("")) == [KEY]


def test_a_local_put_removes_temp_files_left_by_a_dead_writer(
    local_archive: LocalArchive,
) -> None:
    directory = local_archive.root / "acme/th-1"
    directory.mkdir(parents=True)
    stale, fresh = directory / ".tk-tmp-dead", directory / ".tk-tmp-writing"
    stale.write_bytes(b"x" * 4096)
    fresh.write_bytes(b"y")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    local_archive.put_if_absent(KEY, b"a")
    assert not stale.exists() and fresh.exists()  # another writer's, still at work


def test_a_new_file_archive_gets_its_directory_at_start(tmp_path: Path) -> None:
    archive = open_archive((tmp_path / "new" / "archive").as_uri())
    archive.ping()
    assert (tmp_path / "new" / "archive").is_dir()


def test_a_missing_directory_is_unavailable_and_never_re_created(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "gone")
    for call in (archive.ping, lambda: archive.put_if_absent(KEY, b"x"),
                 lambda: archive.get(KEY, 10), lambda: list(archive.list_keys(""))):  # fmt: skip
        with pytest.raises(ArchiveUnavailable, match="missing"):
            call()
    assert not (tmp_path / "gone").exists()


def test_local_ping_on_an_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    archive = LocalArchive(tmp_path / "file" / "archive")
    with pytest.raises(ArchiveUnavailable) as caught:
        archive.ping()
    assert str(archive.root) in caught.value.detail
    assert "THREADKEEPER_ARCHIVE_URL" in caught.value.detail


def test_local_put_into_an_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ArchiveUnavailable, match="not a directory"):
        LocalArchive(tmp_path / "file").put_if_absent(KEY, b"x")


def test_get_of_a_key_that_is_a_directory_is_missing(local_archive: LocalArchive) -> None:
    local_archive.put_if_absent(KEY, b"x")
    for key in ("acme/th-1", "acme/th-1/000000000007.tks/deeper"):
        with pytest.raises(ArchiveObjectMissing):
            local_archive.get(key, max_bytes=10)


# Choosing a backend by URL.


def test_empty_url_means_cache_only() -> None:
    assert open_archive("") is None
    assert open_archive(None) is None


def test_file_url_opens_a_local_archive(tmp_path: Path) -> None:
    archive = open_archive(tmp_path.as_uri())
    assert isinstance(archive, LocalArchive)
    assert archive.root == tmp_path


def test_file_url_with_spaces(tmp_path: Path) -> None:
    archive = open_archive((tmp_path / "my archive").as_uri())
    assert isinstance(archive, LocalArchive)
    assert archive.root == tmp_path / "my archive"


@pytest.mark.parametrize(
    "url", ["file://relative/dir", "file:relative", "http://example.com/x", "/plain/path", "s3://"]
)
def test_bad_urls_name_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="THREADKEEPER_ARCHIVE_URL"):
        open_archive(url)
