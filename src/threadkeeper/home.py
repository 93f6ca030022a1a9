"""A threadkeeper home, the one place that names what is in it; and `up`'s lock on it.

Every file and directory of a home is named here, by `Home`, and asked for by the
rest (`Home(settings.home).logs_dir`, never `home / "logs"`)::

    <home>/                 THREADKEEPER_HOME or --home (default .threadkeeper)
      up.lock               held by the running `up`, its pid inside
      run.json              where that `up`'s Redis and API listen, its children's pids
      children.json         how its children fare (health, `status`)
      redis-run.json        the run_id of the Redis it last ran (store/canary.py)
      tokens.json           the bearer tokens, unless THREADKEEPER_TOKENS_FILE
      redis/                the data of the redis-server `up` runs (redis_server.py)
        port                the port it had, taken again when free
      logs/<child>.log      each child's output: worker, cron, indexer, api-2...
      metrics/              the counters its API processes share
      archive/              the archive, unless THREADKEEPER_ARCHIVE_URL
      search/index.sqlite3  the search index, unless THREADKEEPER_SEARCH_INDEX

`up.lock` is held with `fcntl.flock` for as long as `up` runs and holds its pid, so
the lock is released by the kernel however `up` ends (even `kill -9`): a held lock
means a live `up`, a free one means none, whatever files were left behind.
`run.json` says where the running `up`'s Redis and API listen and the pids of its
children; the other commands read it only while the lock is held.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from threadkeeper.errors import AlreadyRunning, NotRunning

DEFAULT_HOME = Path(".threadkeeper")


@dataclass(frozen=True, slots=True)
class Home:
    """The paths of one home (see the module doc)."""

    root: Path

    @property
    def lock_file(self) -> Path:
        return self.root / "up.lock"

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def children_file(self) -> Path:
        return self.root / "children.json"

    @property
    def redis_run_file(self) -> Path:
        return self.root / "redis-run.json"

    @property
    def tokens_file(self) -> Path:
        return self.root / "tokens.json"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def redis_port_file(self) -> Path:
        return self.redis_dir / "port"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def log(self, child: str) -> Path:
        return self.logs_dir / f"{child}.log"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def search_index(self) -> Path:
        return self.root / "search" / "index.sqlite3"


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass(slots=True)
class RunInfo:
    """What run.json records about one `up`."""

    pid: int
    api: str
    redis_url: str
    archive_url: str | None
    redis_pid: int | None = None
    children: dict[str, int] = field(default_factory=dict)
    queue_url: str | None = None  # RQ's own Redis, when the hot store is a cluster

    def write(self, home: Path) -> None:
        write_atomically(Home(home).run_file, json.dumps(asdict(self)))

    @classmethod
    def read(cls, home: Path) -> RunInfo | None:
        try:
            data: dict[str, Any] = json.loads(Home(home).run_file.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


class HomeLock:
    """The exclusive lock of one home; `acquire` refuses while another `up` holds it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = Home(home).lock_file
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _read_pid(self.path)
            raise AlreadyRunning(
                f"threadkeeper up is already running for home {self.home} (pid {pid}): "
                f"stop it with `threadkeeper stop --home {self.home}`, or give this one "
                "another --home"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def running_pid(home: Path) -> int | None:
    """The pid of the `up` holding this home's lock, or None when no `up` runs here."""
    path = Home(home).lock_file
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or -1
    finally:
        os.close(fd)  # closing drops the shared lock if we got it
    return None


def require_running(home: Path) -> RunInfo:
    """The running `up`'s run.json, or NotRunning saying how to start it."""
    info = RunInfo.read(home) if running_pid(home) is not None else None
    if info is None:
        raise NotRunning(not_running(home))
    return info


def not_running(home: Path) -> str:
    """What every command says when no `up` runs for `home`."""
    start = "threadkeeper up" + ("" if home == DEFAULT_HOME else f" --home {home}")
    return f"threadkeeper is not running for home {home}: start it with `{start}`"


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0
