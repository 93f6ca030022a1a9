"""The continuation path beside PAL: append to and read back a long thread, one client.

PAL (`pal-mcp-server`) runs in its own venv (`.venv-pal`, made by `make bench`: its
dependencies are not ours) as a subprocess on the same Redis: `bench/pal.py`. Ours
is the API over HTTP, with the bench's lean client and with httpx (what users run).
Each repetition measures PAL, then ours, so ratios share the machine's drift.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from common import Row, at_least, at_most, median, timed, turn
from context import XRANGE, Bench
from http_api import HttpKit

ROOT = Path(__file__).resolve().parents[1]
PAL_PYTHON = ROOT / ".venv-pal" / "bin" / "python"
SIZES = (1000, 10_000)
TARGETS = {1000: 5.0, 10_000: 20.0}
APPENDS = {1000: 40, 10_000: 12}


def pal_times(redis_url: str, turns: int, appends: int, reads: int) -> dict[str, list[float]]:
    command = [str(PAL_PYTHON), str(ROOT / "bench" / "pal.py"), redis_url, "--turns",
               str(turns), "--appends", str(appends), "--reads", str(reads)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode:
        raise RuntimeError(f"bench/pal.py failed: {done.stderr[-2000:]}")
    found: dict[str, list[float]] = json.loads(done.stdout)[str(turns)]
    return found


def _httpx_append(client: httpx.Client, thread_id: str, i: int) -> float:
    began = time.perf_counter()
    r = client.post(f"/v1/threads/{thread_id}/turns", json={"turns": [turn(i)]},
                    headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    if r.status_code != 201:
        raise RuntimeError(f"append: HTTP {r.status_code} {r.text[:200]}")
    return time.perf_counter() - began


def _httpx_read(client: httpx.Client, thread_id: str, turns: int) -> float:
    began = time.perf_counter()
    body = client.get(f"/v1/threads/{thread_id}", params={"limit": turns}).json()
    if len(body["turns"]) != turns:
        raise RuntimeError(f"read: {len(body['turns'])} turns, not {turns}")
    return time.perf_counter() - began


async def continuation(b: Bench, host: str, port: int) -> None:
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=60) as client:
        for size in SIZES:
            await _appends(b, host, port, client, size)
        await _reads(b, client, 1000)


async def _appends(b: Bench, host: str, port: int, client: httpx.Client, size: int) -> None:
    thread_id = await b.kit.create(f"cont-{size}", size)
    pal, lean, plain = [], [], []
    n = APPENDS[size]
    for _ in range(b.sizes.reps):
        pal.append(median(pal_times(b.server.url, size, n, 1)["append_s"]))
        # A new connection each time: PAL's run outlasts the server's keep-alive timeout.
        kit = HttpKit(host, port, 1)
        lean.append(median([await timed(kit.append, thread_id, [turn(i)]) for i in range(n)]))
        await kit.close()
        plain.append(median([_httpx_append(client, thread_id, i) for i in range(n)]))
    pal_rate = 1 / median(pal)
    b.add(Row("continuation", f"PAL add_turn, {size:,}-turn thread (GET + setex of the blob)",
              pal_rate, "ops/s"))  # fmt: skip
    target = at_least(TARGETS[size], f">= {TARGETS[size]:g}x PAL")
    for name, times in (("lean client", lean), ("httpx", plain)):
        ratio = median([p / t for p, t in zip(pal, times, strict=True)])
        b.add(Row("continuation", f"HTTP append, {size:,}-turn thread, 1 client, {name}",
                  1 / median(times), "ops/s", pal_rate, "PAL add_turn", target,
                  paired=ratio))  # fmt: skip


async def _reads(b: Bench, client: httpx.Client, size: int) -> None:
    thread_id = await b.kit.create(f"cont-read-{size}", size)
    key = b.kit.stream_key(thread_id)
    pal, floor, ours = [], [], []
    for _ in range(b.sizes.reps):
        pal.append(median(pal_times(b.server.url, size, 0, 5)["read_s"]))
        for _ in range(3):
            floor.append(await timed(b.floor.xrange, key))
            ours.append(_httpx_read(client, thread_id, size))
    fl = median(floor) * 1000
    b.add(
        Row("continuation", f"PAL get_thread, {size:,} turns (GET + parse)",
            median(pal) * 1000, "ms", fl, XRANGE),
        Row("continuation", f"HTTP full read, {size:,} turns, httpx (parse included)",
            median(ours) * 1000, "ms", fl, XRANGE, at_most(2.0, "<= 2x XRANGE")),
    )  # fmt: skip
