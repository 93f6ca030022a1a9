"""The cold tier: where snapshots go, behind one interface and chosen by one URL.

    ""                     -> None (cache-only mode: no archive)
    file:///abs/dir        -> LocalArchive
    s3://bucket[/prefix]   -> S3Archive (endpoint and credentials the standard boto3 way)

The backends are imported lazily, so a daemon without S3 never imports boto3.
Every backend translates its dependency's errors into threadkeeper's own, once,
at its boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

from threadkeeper.errors import ConfigError, SnapshotCorrupt

log = logging.getLogger("threadkeeper")

__all__ = ["Archive", "check_key", "check_prefix", "object_too_large", "open_archive"]

_ENV = "THREADKEEPER_ARCHIVE_URL"


class Archive(Protocol):
    """Immutable objects under relative keys; sync, so async callers use asyncio.to_thread."""

    url: str  # as configured, credentials never included

    def put_if_absent(self, key: str, data: bytes) -> None:
        """Create `key` holding `data`; a re-put of identical bytes succeeds, of others fails."""
        ...

    def get(self, key: str, max_bytes: int) -> bytes:
        """Read `key`, refusing before reading it an object larger than `max_bytes`."""
        ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is fine."""
        ...

    def ping(self) -> None:
        """Check the archive is usable, raising ArchiveUnavailable that says what to fix."""
        ...


def open_archive(
    url: str | None, held_snapshots: Callable[[str], bool] | None = None
) -> Archive | None:
    """Build the archive THREADKEEPER_ARCHIVE_URL names; an empty URL means none.

    `held_snapshots(url)` says whether that archive is known to have held snapshots:
    then a missing directory is a moved or unmounted archive, never re-created empty.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _open_local(url, parts.netloc, unquote(parts.path), held_snapshots)
    if parts.scheme == "s3":
        return _open_s3(url, parts.netloc, unquote(parts.path))
    raise ConfigError(
        f"{_ENV}={url!r} is not an archive URL: use s3://bucket/prefix, "
        "file:///absolute/dir, or an empty value for cache-only mode",
        variable=_ENV,
    )


def check_key(key: str) -> str:
    """Refuse a key that is not a plain relative path (empty, absolute, `.`/`..`, `//`, NUL)."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\0" in key or "\\" in key:
        raise ValueError(f"archive key {key!r} is not a relative path")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"archive key {key!r} has an empty, '.' or '..' segment")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key with an optional trailing slash."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _open_local(
    url: str, host: str, path: str, held_snapshots: Callable[[str], bool] | None
) -> Archive:
    from threadkeeper.archive.local import LocalArchive

    if host not in ("", "localhost") or not PurePosixPath(path).is_absolute():
        raise ConfigError(
            f"{_ENV}={url!r}: a file archive needs an absolute path, as in file:///var/lib/tk",
            variable=_ENV,
        )
    archive = LocalArchive(path)
    if not archive.root.exists() and held_snapshots is not None and held_snapshots(archive.url):
        log.error(
            "archive directory %s is missing, but threads were archived there: it is not "
            "re-created empty. Bring it back (mount it) or fix %s; until then nothing is "
            "archived to or read from it",
            archive.root,
            _ENV,
        )  # health and /readyz say the same, from the archive's own check
    else:
        archive.create_root()
    return archive


def _open_s3(url: str, bucket: str, path: str) -> Archive:
    from threadkeeper.archive.s3 import S3Archive

    if "@" in bucket or ":" in bucket:
        raise ConfigError(
            f"{_ENV} must not carry credentials or a port: credentials and endpoint come from "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_ENDPOINT_URL",
            variable=_ENV,
        )
    if not bucket:
        raise ConfigError(f"{_ENV}={url!r} names no bucket: use s3://bucket/prefix", variable=_ENV)
    try:
        return S3Archive(bucket, path.strip("/"))
    except ValueError as exc:
        raise ConfigError(f"{_ENV}={url!r}: bad prefix ({exc})", variable=_ENV) from exc


def object_too_large(url: str, key: str, size: int, max_bytes: int) -> SnapshotCorrupt:
    """The error for an object over the read cap, raised before its body is read."""
    return SnapshotCorrupt(
        f"archive object {key!r} in {url} is {size} bytes, over the limit of {max_bytes}: "
        "refusing to read it (it is not a snapshot this daemon wrote, or a limit was lowered)",
        key=key,
        archive=url,
    )
