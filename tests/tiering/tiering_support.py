"""Helpers for the cold-tier tests: a clock, thread builders, process polling."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from threadkeeper import keys
from threadkeeper.archive import Archive
from threadkeeper.models import Thread
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Limits, Settings
from threadkeeper.store.connection import sync_client
from threadkeeper.wire.decode import parse_new_thread, parse_new_turns


class AfterPut:
    """An archive that runs `hook(key)` after each put, once the object is in place."""

    def __init__(self, inner: Archive, hook: Callable[[str], None]) -> None:
        self.inner = inner
        self.hook = hook
        self.url = inner.url

    def put_if_absent(self, key: str, data: bytes) -> None:
        self.inner.put_if_absent(key, data)
        self.hook(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Backend:
    """One archive under test, and a way to cut it off and bring it back."""

    kind: str
    archive: Archive
    cut: Callable[[], None]
    restore: Callable[[], None]

    def snapshots(self, thread: Thread | str, tenant: str = "default") -> list[str]:
        thread_id = thread if isinstance(thread, str) else thread.id
        return list(self.archive.list_keys(keys.snapshot_prefix(tenant, thread_id)))


MakeRuntime = Callable[..., Runtime]

START = 1_700_000_000_000
SECOND = 1000


class Clock:
    """The store's clock, moved by hand."""

    def __init__(self, start: int = START) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)


async def new_thread(runtime: Runtime, thread_id: str, turns: int = 3) -> Thread:
    body = {"id": thread_id, "title": "t", "turns": [
        {"role": "user", "content": f"turn {i}"} for i in range(1, turns + 1)
    ]}  # fmt: skip
    view, _ = await runtime.service.create("default", parse_new_thread(body, Limits()))
    return view.thread


async def append(runtime: Runtime, thread_id: str, content: str) -> int:
    new = parse_new_turns({"turns": [{"role": "assistant", "content": content}]}, Limits())
    result = await runtime.service.append("default", thread_id, new)
    return result.version


async def meta(runtime: Runtime, thread_id: str) -> Thread:
    thread = await runtime.store.get("default", thread_id)
    assert thread is not None
    return thread


async def turns_ttl(runtime: Runtime, thread_id: str) -> int:
    return int(await runtime.redis.pttl(keys.thread_keys("default", thread_id).turns))


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    env.update({
        "THREADKEEPER_REDIS_URL": settings.redis_url or "",
        "THREADKEEPER_ARCHIVE_URL": settings.archive_url or "",
        "THREADKEEPER_HOME": str(settings.home),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    if settings.queue_redis_url:
        env["THREADKEEPER_QUEUE_REDIS_URL"] = settings.queue_redis_url
    env.update({f"THREADKEEPER_{k}": v for k, v in extra.items()})
    return env


def threadkeeper(*args: str) -> list[str]:
    return [sys.executable, "-m", "threadkeeper", *args]


def sync_redis(url: str) -> redis.Redis:
    return sync_client(url)
