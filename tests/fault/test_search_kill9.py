"""kill -9 of the search indexer and of Redis during appends and deletes: afterwards every
acknowledged turn is found, and nothing deleted is."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.errors import StoreError, ThreadkeeperError
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.search import Filters, SearchService
from threadkeeper.service import fingerprint
from threadkeeper.settings import Settings
from threadkeeper.wire.decode import parse_new_thread, parse_new_turns
from waiting import wait_for, wait_for_async

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

THREADS = 6
TURNS_EACH = 150
DOOMED = ("t1", "t4")  # deleted midway: none of their words may be found after
LATE = "t5"  # deleted once the index holds all of it (no append event can hide the delete's)
CATCH_UP = 120  # seconds the indexer gets to build the index, or to drain the feed
PACE = 0.02  # seconds between one thread's appends: the load spans the faults


@dataclass
class Ledger:
    acked: dict[str, list[str]] = field(default_factory=dict)  # thread -> words stored
    deleted: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(map(len, self.acked.values()))


def word(thread: str, n: int) -> str:
    return f"kw{thread}q{n}"


class IndexerProcess:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
        self.env |= {"THREADKEEPER_REDIS_URL": settings.redis_url or "",
                     "THREADKEEPER_ARCHIVE_URL": settings.archive_url or "",
                     "THREADKEEPER_HOME": str(settings.home),
                     "THREADKEEPER_SEARCH_SWEEP_INTERVAL": "never"}  # the feed alone  # fmt: skip
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "threadkeeper", "indexer"], env=self.env,
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


async def load(runtime: Runtime, thread: str, ledger: Ledger) -> None:
    for n in range(TURNS_EACH):
        raw = {"turns": [{"role": "user", "content": f"turn {word(thread, n)} said"}]}
        new = parse_new_turns(raw, runtime.settings.limits)
        try:
            await runtime.service.append("default", thread, new, idempotency_key=f"{thread}-{n}",
                                         digest=fingerprint(raw))  # fmt: skip
        except StoreError:
            await asyncio.sleep(0.05)  # Redis is down: this one is not acknowledged
            continue
        ledger.acked[thread].append(word(thread, n))
        await asyncio.sleep(PACE)
        if thread in DOOMED and n == TURNS_EACH // 2:
            await delete_until_done(runtime, thread, ledger)
            return


async def delete_until_done(runtime: Runtime, thread: str, ledger: Ledger) -> None:
    async def deleted() -> bool:
        await runtime.service.delete("default", thread)
        return True

    # Redis may be down (killed by `faults`): until it is back and takes the delete.
    await wait_for_async(deleted, f"{thread} deleted", timeout=CATCH_UP, interval=0.05,
                         ignoring=(StoreError,))  # fmt: skip
    ledger.deleted.add(thread)


async def faults(server: ManagedRedis, indexer: IndexerProcess, ledger: Ledger) -> None:
    for at, what in ((150, "indexer"), (350, "redis"), (550, "indexer")):
        await wait_for_async(lambda at=at: ledger.total >= at, f"{at} acknowledged appends",
                             timeout=CATCH_UP, interval=0.002)  # fmt: skip
        if what == "indexer":
            indexer.kill()
            indexer.start()
        else:
            server.kill()
            await asyncio.to_thread(server.start)


async def run_load(server: ManagedRedis, settings: Settings, indexer: IndexerProcess) -> Ledger:
    runtime = build_runtime(settings)
    ledger = Ledger()
    try:
        for c in range(THREADS):
            new = parse_new_thread({"id": f"t{c}", "turns": []}, settings.limits)
            await runtime.service.create("default", new)
            ledger.acked[f"t{c}"] = []
        loads = [load(runtime, f"t{c}", ledger) for c in range(THREADS)]
        await asyncio.gather(faults(server, indexer, ledger), *loads)
    finally:
        await runtime.close()
    return ledger


async def hits(service: SearchService, words: list[str]) -> dict[str, int]:
    found = {}
    for w in words:
        page = await service.search("default", w, Filters(), 5, None)
        found[w] = len(page.hits)
    return found


async def drained(settings: Settings) -> bool:
    runtime = build_runtime(settings)
    try:
        status = await SearchService(settings, runtime.redis).status()
        return status.built and not status.waiting
    except ThreadkeeperError:
        return False
    finally:
        await runtime.close()


async def check(settings: Settings, ledger: Ledger) -> tuple[list[str], list[str]]:
    runtime = build_runtime(settings)
    try:
        service = SearchService(settings, runtime.redis)
        kept = [w for t, ws in ledger.acked.items() if t not in ledger.deleted for w in ws]
        gone = [w for t in ledger.deleted for w in ledger.acked[t]]
        missing = [w for w, n in (await hits(service, kept)).items() if n != 1]
        found = [w for w, n in (await hits(service, gone)).items() if n]
        return missing, found
    finally:
        await runtime.close()


async def delete_late(settings: Settings, ledger: Ledger) -> None:
    runtime = build_runtime(settings)
    try:
        await delete_until_done(runtime, LATE, ledger)
    finally:
        await runtime.close()


def wait_drained(settings: Settings) -> None:
    """Until the feed is drained; past CATCH_UP the checks that follow say what is missing."""
    wait_for(lambda: asyncio.run(drained(settings)), "the indexer to drain the feed",
             timeout=CATCH_UP, fail=False)  # fmt: skip


def test_kill9_of_indexer_and_redis_loses_no_acknowledged_turn_and_finds_nothing_deleted(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path
) -> None:
    server = make_redis("--appendfsync", "always")
    settings = Settings(redis_url=server.url, archive_url="", home=tmp_path / "home",
                        hot_ttl=None)  # fmt: skip
    indexer = IndexerProcess(settings, tmp_path / "indexer.log")
    indexer.start()
    try:
        wait_drained(settings)  # built: the load runs against a live indexer
        ledger = asyncio.run(run_load(server, settings, indexer))
        assert ledger.deleted == set(DOOMED)
        wait_drained(settings)
        asyncio.run(delete_late(settings, ledger))
        wait_drained(settings)
        missing, found = asyncio.run(check(settings, ledger))
    finally:
        indexer.stop()
    assert ledger.total > 550
    assert missing == [], f"acknowledged but not found: {missing[:10]}"
    assert found == [], f"deleted but found: {found[:10]}"
    indexer_log = (tmp_path / "indexer.log").read_text()
    assert "Traceback" not in indexer_log, indexer_log[-3000:]
