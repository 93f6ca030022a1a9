"""What every command shares: settings with `up`'s Redis found, and an async runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.supervisor import run_file

T = TypeVar("T")


def load_settings() -> Settings:
    """Settings from the environment; without a Redis URL, the one `up` is running."""
    settings = Settings.from_env()
    path = run_file(settings.home)
    if settings.redis_url is None and path.exists():
        info = json.loads(path.read_text())
        archive = settings.archive_url if settings.archive_url is not None else info["archive_url"]
        settings = settings.with_overrides(redis_url=info["redis_url"], archive_url=archive)
    return settings


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


def run(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        async with opened(settings) as runtime:
            return await work(runtime)

    return asyncio.run(main())
