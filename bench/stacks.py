"""The HTTP stack, chosen by measurement: uvicorn vs granian, one process vs N workers.

Every server runs the same app on the same Redis, all started at once and measured
in turn within each repetition, so their ratios share the machine's drift. The
ratio of each row is against uvicorn with one process, in the same repetition.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from common import Row, Run, median, timed
from context import Bench, runs_row
from http_api import HttpKit
from servers import api_server

READ_TURNS = 1000


def configurations(cores: int) -> list[tuple[str, int]]:
    many = max(2, cores)
    return [("uvicorn", 1), ("granian", 1), ("uvicorn", many), ("granian", many)]


def _label(stack: str, workers: int) -> str:
    return f"{stack} x{workers}"


async def _one_rep(
    b: Bench, ports: dict[str, int], rep: int, reads: dict[str, list[float]]
) -> dict[str, dict[int, Run]]:
    s = b.sizes
    found: dict[str, dict[int, Run]] = {}
    for label, port in ports.items():
        found[label] = {}
        for clients in (1, 32):
            kit = HttpKit("127.0.0.1", port, clients)
            total = s.http_requests // (3 if clients == 1 else 1)
            tag = f"stk-{label.replace(' ', '')}-{clients}-{rep}"
            found[label][clients] = await kit.throughput(total, s.throughput_seconds, tag)
            await kit.close()
        kit = HttpKit("127.0.0.1", port, 1)
        for _ in range(3):
            reads[label].append(await timed(kit.read_all, "stacks-read", READ_TURNS))
        await kit.close()
    return found


async def stacks(b: Bench, tmp: Path, redis_url: str, cores: int) -> None:
    with ExitStack() as procs:
        ports = {}
        for stack, workers in configurations(cores):
            label = _label(stack, workers)
            where = tmp / f"api-{stack}-{workers}"
            server = procs.enter_context(
                api_server(where, redis_url, http_stack=stack, workers=workers)
            )
            ports[label] = server.port
        await b.kit.create("stacks-read", READ_TURNS)
        reads: dict[str, list[float]] = {label: [] for label in ports}
        runs: dict[str, dict[int, list[Run]]] = {label: {1: [], 32: []} for label in ports}
        for rep in range(b.sizes.reps):
            for label, by_clients in (await _one_rep(b, ports, rep, reads)).items():
                for clients, run in by_clients.items():
                    runs[label][clients].append(run)
        base = _label("uvicorn", 1)
        for label in ports:
            for clients in (1, 32):
                name = f"{label}: append, {clients} clients"
                b.add(runs_row("stacks", name, runs[label][clients], runs[base][clients],
                               floor_name=f"{base}, same clients"))  # fmt: skip
            b.add(Row("stacks", f"{label}: full read, {READ_TURNS:,} turns",
                      median(reads[label]) * 1000, "ms", median(reads[base]) * 1000,
                      f"{base}"))  # fmt: skip
