"""LangGraph checkpointers side by side: aput and aget_tuple on a 10-step and a 1,000-step
thread, for ThreadkeeperSaver (over HTTP to the bench's uvicorn), LangGraph's
InMemorySaver, and langgraph-checkpoint-postgres on this machine's PostgreSQL
(127.0.0.1:5432, database `test`, trust auth; the row is skipped when none answers).

Each step's state is the same size whatever the step: a counter and a 200-byte note that
change every step, and a 2 KB channel written once (so a put stores two values and a
read needs one older one). A put's cost at step N is the median of the puts of steps
N-9..N, the short and the long thread's put alternately; a read's, the median of 20 reads
of the newest checkpoint. Target: threadkeeper's
put at step 1,000 costs at most 1.2x its put at step 10 (O(1) in the thread's history).
PostgreSQL tables live in a schema of their own (`tk_bench_lg_<random>`), dropped after.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from common import Row, at_most, median
from context import Bench
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver

from threadkeeper.integrations.langgraph import ThreadkeeperSaver

STEPS = (10, 1000)
WINDOW = 10  # puts per figure: the last WINDOW steps
READS = 20
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SECTION = "langgraph"


async def langgraph(b: Bench, host: str, port: int) -> None:
    """The three savers, each over a few repetitions of both thread lengths."""
    savers: list[tuple[str, Callable[[], contextlib.AbstractAsyncContextManager[Any]]]] = [
        ("threadkeeper", lambda: ThreadkeeperSaver(f"http://{host}:{port}")),
        ("InMemorySaver", _memory),
        ("postgres", _postgres),
    ]
    for name, open_saver in savers:
        try:
            figures = await _measure(open_saver, b.sizes.reps)
        except _NoPostgres as exc:
            print(f"  {SECTION}: no PostgreSQL ({exc}): the postgres rows are skipped")
            continue
        _report(b, name, figures)


class _NoPostgres(Exception):
    pass


@contextlib.asynccontextmanager
async def _memory() -> AsyncIterator[InMemorySaver]:
    yield InMemorySaver()


@contextlib.asynccontextmanager
async def _postgres() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    schema = f"tk_bench_lg_{secrets.token_hex(6)}"
    try:
        admin = await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise _NoPostgres(str(exc).splitlines()[0]) from exc
    async with admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            dsn = f"{PG_URL}?options=-csearch_path%3D{schema}"
            async with AsyncPostgresSaver.from_conn_string(dsn) as saver:
                await saver.setup()
                yield saver
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def _measure(
    open_saver: Callable[[], contextlib.AbstractAsyncContextManager[Any]], reps: int
) -> dict[str, list[float]]:
    """Per repetition: a long thread is put up to step 990 untimed; then steps 1-10 of a new
    thread and steps 991-1,000 of the long one are put alternately, so the two figures are
    measured side by side in time (a shared machine's load drifts), and their newest
    checkpoints are read alternately."""
    figures: dict[str, list[float]] = {f"{op} {n}": [] for op in ("put", "get") for n in STEPS}
    short_steps, long_steps = STEPS
    async with open_saver() as saver:
        for _ in range(reps):
            long, short = _Thread(), _Thread()
            for _ in range(long_steps - WINDOW):
                await long.put(saver)
            timed: dict[int, list[float]] = {short_steps: [], long_steps: []}
            for _ in range(WINDOW):
                timed[short_steps].append(await short.put(saver))
                timed[long_steps].append(await long.put(saver))
            reads: dict[int, list[float]] = {short_steps: [], long_steps: []}
            for _ in range(READS):
                reads[short_steps].append(await _timed(saver.aget_tuple, short.newest))
                reads[long_steps].append(await _timed(saver.aget_tuple, long.newest))
            for n in STEPS:
                figures[f"put {n}"].append(median(timed[n]))
                figures[f"get {n}"].append(median(reads[n]))
    return figures


class _Thread:
    """A thread being put step by step; every step the same size."""

    def __init__(self) -> None:
        self.step = 0
        self.config: Any = {"configurable": {"thread_id": uuid.uuid4().hex, "checkpoint_ns": ""}}

    @property
    def newest(self) -> Any:
        return {"configurable": {k: v for k, v in self.config["configurable"].items()
                                 if k != "checkpoint_id"}}  # fmt: skip

    async def put(self, saver: BaseCheckpointSaver[Any]) -> float:
        """Put the next step's checkpoint; how long it took, in us."""
        self.step = step = self.step + 1
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"counter": step, "note": "n" * 200, "prompt": "p" * 2000}
        checkpoint["channel_versions"] = {"counter": step, "note": step, "prompt": 1}
        new = {"counter": step, "note": step} | ({"prompt": 1} if step == 1 else {})
        metadata = {"source": "loop", "step": step, "parents": {}}
        started = time.perf_counter()
        self.config = await saver.aput(self.config, checkpoint, metadata, new)  # type: ignore[arg-type]
        return (time.perf_counter() - started) * 1e6


async def _timed(op: Callable[..., Awaitable[Any]], *args: Any) -> float:
    started = time.perf_counter()
    found = await op(*args)
    assert found is not None and found.checkpoint["channel_values"]["prompt"] == "p" * 2000
    return (time.perf_counter() - started) * 1e6


def _report(b: Bench, name: str, figures: dict[str, list[float]]) -> None:
    short, long = (median(figures[f"put {n}"]) for n in STEPS)
    paired = median(
        [lo / sh for sh, lo in zip(figures["put 10"], figures["put 1000"], strict=True)]
    )
    target = at_most(1.2, "<= 1.2x its put at step 10") if name == "threadkeeper" else None
    b.add(
        Row(SECTION, f"{name} aput, step 10", short, "us"),
        Row(
            SECTION,
            f"{name} aput, step 1,000",
            long,
            "us",
            floor=short,
            floor_name=f"{name} aput at step 10",
            target=target,
            paired=paired,
        ),  # fmt: skip
        Row(SECTION, f"{name} aget_tuple, 10 steps", median(figures["get 10"]), "us"),
        Row(SECTION, f"{name} aget_tuple, 1,000 steps", median(figures["get 1000"]), "us"),
    )
