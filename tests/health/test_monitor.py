"""The lifespan helper: startup warnings in the log, and the canary armed and watched."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from threadkeeper.api.health import monitor
from threadkeeper.runtime import build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import sync_client
from threadkeeper.store.masters import masters
from waiting import wait_for_async


@pytest.mark.anyio
async def test_monitor_logs_warnings_and_arms_the_canary(
    make_settings: Callable[..., Settings], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On a cluster, one canary per master, each holding that master's run id."""
    runtime = build_runtime(make_settings(archive_url=""))
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime))
    conn = sync_client(redis_url)
    try:
        run_ids = {m.canary_key: (await m.client.info("server"))["run_id"]
                   for m in await masters(runtime.redis)}  # fmt: skip
        async with monitor(app, every=0.05, grace=0):
            await wait_for_async(lambda: all(conn.exists(key) for key in run_ids),
                                 "a canary on every master", interval=0.05)  # fmt: skip
            for key in run_ids:
                conn.delete(key)  # the periodic check re-arms it
            await wait_for_async(lambda: all(conn.exists(key) for key in run_ids),
                                 "a canary on every master", interval=0.05)  # fmt: skip
            # The startup report arms the canary too, before it logs: on a busy machine
            # the re-arm above can be the report's, with its warnings still to come.
            await wait_for_async(lambda: len(warnings(caplog)) >= 2,
                                 "the startup report's warnings", interval=0.05)  # fmt: skip
    finally:
        await runtime.close()
    armed = {key: conn.hget(key, "run_id") for key in run_ids}
    conn.close()
    assert armed == {key: run_id.encode() for key, run_id in run_ids.items()}
    assert any("cache-only mode" in w for w in warnings(caplog))
    assert any("no RQ worker is alive" in w for w in warnings(caplog))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadkeeper.health" and r.levelname == "WARNING"
    ]
