"""`make bench` (console part): how long each web console page takes to serve.

    .venv/bin/python bench/console.py            # 10,000 threads, a 10,000-turn thread
    .venv/bin/python bench/console.py --quick    # 1,000 and 1,000: a smoke run

Seeds one tenant with BENCH_CONSOLE_THREADS threads (titles, tools, a few turns each)
and one thread of BENCH_CONSOLE_TURNS turns, through the service layer the API uses,
then fetches every console page from a real uvicorn process (the app as deployed)
over loopback HTTP, BENCH_CONSOLE_READS times each, and reports median and p95
against the 200 ms target. Writes bench/console_results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import api_server, managed_redis  # noqa: E402

from threadkeeper.models import DEFAULT_TENANT, rfc3339  # noqa: E402
from threadkeeper.runtime import build_runtime  # noqa: E402
from threadkeeper.settings import Settings  # noqa: E402
from threadkeeper.wire.decode import parse_new_thread, parse_new_turns  # noqa: E402

TARGET_MS = 200.0
TOOLS = ("chat", "thinkdeep", "debug", "planner", "codereview")
BIG = "big-thread"


@dataclass(frozen=True, slots=True)
class Sizes:
    threads: int
    turns: int
    reads: int

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        base = cls(1000, 1000, 5) if quick else cls(10_000, 10_000, 30)
        env = os.environ.get
        return cls(
            int(env("BENCH_CONSOLE_THREADS", base.threads)),
            int(env("BENCH_CONSOLE_TURNS", base.turns)),
            int(env("BENCH_CONSOLE_READS", base.reads)),
        )


def _turn(n: int) -> dict[str, object]:
    role = "user" if n % 2 else "assistant"
    return {"role": role, "content": f"turn {n}: " + "lorem ipsum dolor sit amet " * 12}


async def seed(url: str, tmp: Path, sizes: Sizes) -> dict[str, str]:
    """The tenant's threads and the long thread; returns values the pages filter by."""
    settings = Settings(redis_url=url, archive_url=(tmp / "archive").as_uri(), home=tmp)
    runtime = build_runtime(settings)
    service, limits = runtime.service, settings.limits
    turns = [_turn(n) for n in range(1, 5)]
    try:
        for start in range(0, sizes.threads, 20):
            await asyncio.gather(*(
                service.create(DEFAULT_TENANT, parse_new_thread({
                    "id": f"t{n:06d}", "title": f"Conversation {n} about {TOOLS[n % 5]}",
                    "tool": TOOLS[n % 5], "turns": turns}, limits))
                for n in range(start, min(start + 20, sizes.threads))
            ))  # fmt: skip
        middle = await runtime.store.get(DEFAULT_TENANT, f"t{sizes.threads // 2:06d}")
        assert middle is not None
        big = {"id": BIG, "title": "The long one", "tool": "chat"}
        await service.create(DEFAULT_TENANT, parse_new_thread(big, limits))
        for start in range(1, sizes.turns + 1, 500):
            last = min(start + 500, sizes.turns + 1)
            batch = {"turns": [_turn(n) for n in range(start, last)]}
            await service.append(DEFAULT_TENANT, BIG, parse_new_turns(batch, limits))
    finally:
        await runtime.close()
    return {"middle": rfc3339(middle.updated_at) or "", "oldest": "t000000"}


def pages(values: dict[str, str], sizes: Sizes) -> dict[str, str]:
    half = sizes.turns // 2
    return {
        "threads: first page": "/ui/threads",
        "threads: updated_before (middle)": f"/ui/threads?updated_before={values['middle']}",
        "threads: tool filter (1 in 5 match)": "/ui/threads?tool=planner",
        "threads: prefix, oldest id (one search step)": f"/ui/threads?prefix={values['oldest']}",
        "threads: prefix, no match (one search step)": "/ui/threads?prefix=zzz",
        f"thread ({sizes.turns} turns): first page": f"/ui/threads/{BIG}",
        f"thread ({sizes.turns} turns): middle page": f"/ui/threads/{BIG}?after={half}",
        f"thread ({sizes.turns} turns): last page": f"/ui/threads/{BIG}?last=1",
        "health": "/ui/health",
    }


def measure(base: str, paths: dict[str, str], reads: int) -> list[dict[str, object]]:
    rows = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, path in paths.items():
            assert client.get(path).status_code == 200, path  # warm, and check it serves
            times = []
            for _ in range(reads):
                began = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, path
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            median = statistics.median(times)
            rows.append({"page": name, "path": path, "median_ms": round(median, 1),
                         "p95_ms": round(p95, 1), "bytes": len(response.content),
                         "met": p95 < TARGET_MS})  # fmt: skip
            print(f"{name:45s} median {median:7.1f} ms  p95 {p95:7.1f} ms", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "console_results.json")
    args = parser.parse_args()
    sizes = Sizes.pick(args.quick)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tk-bench-console-") as raw:
        tmp = Path(raw)
        with managed_redis(tmp / "redis") as redis_server:
            began = time.perf_counter()
            values = asyncio.run(seed(redis_server.url, tmp, sizes))
            print(f"seeded {sizes.threads} threads and a {sizes.turns}-turn thread in "
                  f"{time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
            with api_server(tmp / "api", redis_server.url) as api:
                rows = measure(f"http://{api.host}:{api.port}", pages(values, sizes), sizes.reads)
    met = sum(bool(r["met"]) for r in rows)
    meta = {"sizes": {"threads": sizes.threads, "turns": sizes.turns, "reads": sizes.reads},
            "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
            "cpus": os.cpu_count(), "target_ms": TARGET_MS}  # fmt: skip
    print(f"console pages under {TARGET_MS:.0f} ms at p95: {met} of {len(rows)}; load average "
          f"{meta['load_avg_start']} -> {meta['load_avg_end']}")  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
