"""The lifespan helper: startup warnings in the log, and the canary armed and watched."""

from __future__ import annotations

from types import SimpleNamespace

import anyio
import pytest
import redis

from threadkeeper import keys
from threadkeeper.api.health import monitor
from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings


@pytest.mark.anyio
async def test_monitor_logs_warnings_and_arms_the_canary(
    redis_url: str, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(redis_url=redis_url, archive_url="", home=tmp_path / "home")  # type: ignore[operator]
    runtime = build_runtime(settings)
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime))
    conn = redis.Redis.from_url(redis_url)
    try:
        async with monitor(app, every=0.05, grace=0):
            with anyio.fail_after(30):
                while not conn.exists(keys.CANARY):
                    await anyio.sleep(0.05)
            conn.delete(keys.CANARY)  # the periodic check re-arms it
            with anyio.fail_after(30):
                while not conn.exists(keys.CANARY):
                    await anyio.sleep(0.05)
            # The startup report arms the canary too, before it logs: on a busy machine
            # the re-arm above can be the report's, with its warnings still to come.
            with anyio.fail_after(30):
                while len(warnings(caplog)) < 2:
                    await anyio.sleep(0.05)
    finally:
        await runtime.close()
    run_id = redis.Redis.from_url(redis_url).info("server")["run_id"]
    assert conn.hget(keys.CANARY, "run_id") == run_id.encode()
    assert any("cache-only mode" in w for w in warnings(caplog))
    assert any("no RQ worker is alive" in w for w in warnings(caplog))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadkeeper.health" and r.levelname == "WARNING"
    ]
