"""wrk, the C load generator users reach for, as a bench client (Debian's package `wrk`).

One wrk thread drives every connection (wrk is far lighter than the server it loads);
bench/wrk/threadkeeper.lua turns requests into keyed appends and prints the figures
as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from common import Run

SCRIPT = Path(__file__).parent / "wrk" / "threadkeeper.lua"


class WrkError(RuntimeError):
    pass


def wrk(url: str, connections: int, seconds: float, *script_args: str) -> Run:
    """`connections` keep-alive connections for `seconds`; any failed request is an error."""
    argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(SCRIPT), url, "--", *script_args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["failed"] or not found["requests"]:
        raise WrkError(f"wrk: {found['failed']} of {found['requests']} failed: {done.stdout}")
    reported = (found["p50_us"] / 1000, found["p99_us"] / 1000)
    return Run(found["requests"], found["seconds"], reported_ms=reported)


def wrk_appends(base: str, connections: int, seconds: float, run: str, threads: int) -> Run:
    """Keyed appends of one turn, over `threads` threads named `run`-0 .. `run`-(threads-1)."""
    body = json.dumps({"turns": [{"role": "user", "content": "x" * 400}]})
    return wrk(base, connections, seconds, "append", run, str(threads), body)
