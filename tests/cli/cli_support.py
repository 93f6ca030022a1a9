"""The CLI test harness: `threadkeeper ...` in-process, plus async access to the same stores.

`Harness` runs `threadkeeper ...` with click's CliRunner, configured only by the
environment (THREADKEEPER_REDIS_URL, THREADKEEPER_ARCHIVE_URL, AWS_*), as a user
would. `Harness.call` runs async code against the same Redis and archive, to seed
threads and to check what the commands did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from local_client import local_client
from threadkeeper.api import create_app
from threadkeeper.cli import main
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import sync_client
from threadkeeper.wire.decode import parse_new_thread, parse_new_turns

T = TypeVar("T")


@dataclass
class Harness:
    env: dict[str, str]
    redis_url: str
    runner: CliRunner

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        """Run `threadkeeper ARGS`; fail the test unless it exits with `code` (None: any)."""
        result = self.runner.invoke(main, list(args), catch_exceptions=False)
        assert code is None or result.exit_code == code, (
            f"threadkeeper {' '.join(args)} exited {result.exit_code}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    def call(self, work: Callable[[Runtime], Awaitable[T]], **overrides: object) -> T:
        async def main() -> T:
            runtime = build_runtime(self.settings.with_overrides(**overrides))
            try:
                return await work(runtime)
            finally:
                await runtime.close()

        return asyncio.run(main())

    def redis(self) -> redis.Redis:
        return sync_client(self.redis_url)

    def flushall(self) -> None:
        with self.redis() as client:
            client.flushall()

    def api(self, **overrides: object) -> TestClient:
        return local_client(create_app(self.settings.with_overrides(**overrides)))

    def seed(self, tenant: str, thread_id: str, turns: int = 3, **fields: Any) -> None:
        """A thread with `turns` turns (two appends, the second with an idempotency key)."""
        rows = [_turn(thread_id, i) for i in range(turns)]
        first, rest = rows[:1], rows[1:]
        body = {"id": thread_id, "turns": first, **fields}

        async def work(rt: Runtime) -> None:
            limits = rt.settings.limits
            await rt.service.create(tenant, parse_new_thread(body, limits))
            if rest:
                new = parse_new_turns({"turns": rest}, limits)
                await rt.service.append(tenant, thread_id, new, idempotency_key=f"k-{thread_id}")

        self.call(work)

    def archive_keys(self, prefix: str = "") -> list[str]:
        async def work(rt: Runtime) -> list[str]:
            assert rt.archive is not None
            return list(rt.archive.list_keys(prefix))

        return self.call(work)


def _turn(thread_id: str, i: int) -> dict[str, Any]:
    role = "user" if i % 2 == 0 else "assistant"
    turn: dict[str, Any] = {"role": role, "content": f"{thread_id} turn {i}: héllo ✓ " * (i + 1)}
    if role == "assistant":
        turn |= {"model": "m-1", "tokens": 10 + i, "metadata": {"n": i, "f": 0.5}}
    else:
        turn |= {"files": [f"f{i}.txt"], "images": []}
    return turn
