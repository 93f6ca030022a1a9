"""The archive as a local directory: one file per key, created atomically, never overwritten.

A put writes a temp file beside its target, fsyncs it, then hard-links it into
place: `os.link` fails if the target exists, which gives the same
create-only-if-absent guarantee as S3's `If-None-Match: *`, and a reader never
sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threadkeeper.archive import check_key, check_prefix, object_too_large
from threadkeeper.errors import ArchiveObjectExists, ArchiveObjectMissing, ArchiveUnavailable

__all__ = ["LocalArchive"]

_TEMP_PREFIX = ".tk-tmp-"
# A put takes seconds; a temp file this old was left by a writer that died mid-put.
STALE_TEMP_SECONDS = 3600


class LocalArchive:
    """Snapshots as files under one directory (`file:///dir`)."""

    __slots__ = ("root", "url")

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    def put_if_absent(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._require_root()
        with self._errors():
            _makedirs(self.root, path.parent)
            _remove_stale_temps(path.parent)
            tmp = _write_temp(path.parent, data)
            try:
                self._link(tmp, path, data, key)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(path.parent)

    def create_root(self) -> None:
        """Make the directory of a new archive: only at start, never behind a running daemon.

        Once it exists, a missing root is an unmounted or moved archive: re-creating it
        would read every thread as lost and mark new snapshots clean in the wrong place.
        """
        with contextlib.suppress(OSError):  # else health and /readyz say what is wrong
            self.root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, max_bytes: int) -> bytes:
        path = self._path(key)
        self._require_root()
        with self._errors(missing=key), path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise object_too_large(self.url, key, size, max_bytes)
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:  # grew after the stat: not one of ours
            raise object_too_large(self.url, key, len(data), max_bytes)
        return data

    def list_keys(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        start = self.root / prefix.rpartition("/")[0]
        self._require_root()  # else a missing root lists as an empty archive
        with self._errors():
            keys = sorted(key for key in self._walk(start) if key.startswith(prefix))
        yield from keys

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._errors():
            path.unlink(missing_ok=True)

    def ping(self) -> None:
        self._require_root()
        with self._errors():
            _write_temp(self.root, b"").unlink()

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise ArchiveUnavailable(
                f"archive directory {self.root} is missing or not a directory (moved, or not "
                "mounted): "
                "threadkeeper does not re-create it behind a running daemon. Bring it back "
                "(mount it), or fix THREADKEEPER_ARCHIVE_URL; nothing is archived or read "
                "from it until then",
                archive=self.url,
            )

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _link(self, tmp: Path, path: Path, data: bytes, key: str) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError:
            if not _holds(path, data):
                raise ArchiveObjectExists(
                    f"archive object {key!r} in {self.url} already exists with other content",
                    key=key,
                    archive=self.url,
                ) from None

    def _walk(self, start: Path) -> Iterator[str]:
        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):
                raise exc

        for dirpath, _, filenames in os.walk(start, onerror=fail):
            rel = Path(dirpath).relative_to(self.root)
            for name in filenames:
                if not name.startswith(_TEMP_PREFIX):
                    yield (rel / name).as_posix()

    @contextmanager
    def _errors(self, *, missing: str | None = None) -> Iterator[None]:
        """Translate OSError into threadkeeper errors, once, at this boundary.

        `missing` names the key being read: its absence is ArchiveObjectMissing,
        where any other call's is a broken archive directory.
        """
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if missing is None:
                raise self._unavailable(exc) from exc
            raise ArchiveObjectMissing(
                f"archive object {missing!r} does not exist in {self.url}",
                key=missing,
                archive=self.url,
            ) from exc
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: OSError) -> ArchiveUnavailable:
        return ArchiveUnavailable(
            f"archive directory {self.root} is not usable ({exc.strerror or exc}): check that it "
            "exists, is writable and has free space, or fix THREADKEEPER_ARCHIVE_URL",
            archive=self.url,
        )


def _makedirs(root: Path, directory: Path) -> None:
    # One level at a time so each new entry's parent can be fsynced: a snapshot
    # in a directory whose own entry was lost in a crash would be lost with it.
    if directory.is_dir():
        return
    level = root
    for part in directory.relative_to(root).parts:
        level = level / part
        try:
            level.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(level.parent)


def _write_temp(directory: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _holds(path: Path, data: bytes) -> bool:
    with path.open("rb") as file:
        return os.fstat(file.fileno()).st_size == len(data) and file.read() == data


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(directory: Path) -> None:
    """Remove what writers killed mid-put left beside their targets (they can be MBs)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for leftover in directory.glob(_TEMP_PREFIX + "*"):
        with contextlib.suppress(OSError):  # gone already, or another writer's concern
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
