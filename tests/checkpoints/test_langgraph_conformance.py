"""LangGraph's own conformance suite (langgraph-checkpoint-conformance) against a live daemon:
every base capability, and every extended one the saver implements, must pass."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES

from live_server import LiveServer
from threadkeeper.integrations.langgraph import ThreadkeeperSaver

pytestmark = pytest.mark.anyio
IMPLEMENTED = {"delete_for_runs", "copy_thread", "prune"}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("redis_kind", ["standalone", "cluster"], indirect=True)
async def test_conformance(live: LiveServer, redis_kind: str) -> None:
    @checkpointer_test(name="ThreadkeeperSaver")
    async def saver() -> AsyncIterator[ThreadkeeperSaver]:
        async with ThreadkeeperSaver(live.url) as made:
            yield made

    report = await validate(saver)
    results = {name: (r.passed, r.tests_passed, r.tests_failed, r.failures)
               for name, r in report.results.items()}  # fmt: skip
    if out := os.environ.get("LANGGRAPH_CONFORMANCE_REPORT"):
        Path(f"{out}.{redis_kind}.json").write_text(json.dumps(results, indent=1))
    for capability in {c.value for c in BASE_CAPABILITIES} | IMPLEMENTED:
        passed, _, _, failures = results[capability]
        assert passed is True, f"{capability}: {failures}"
