"""workers/settings.py, for a plain `rq worker -c workers.settings`: it watches RQ's Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from threadkeeper.daemon.redis_server import ManagedRedis

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import workers.settings as s; print(s.REDIS_URL)"


def _redis_url(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    clean |= {f"THREADKEEPER_{k}": v for k, v in env.items()}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_rq_watches_the_queue_redis_when_one_is_named(redis_server: ManagedRedis) -> None:
    queue = "redis://127.0.0.1:1/3"  # never connected to: naming it is enough
    assert _redis_url(REDIS_URL=redis_server.url, QUEUE_REDIS_URL=queue) == queue


def test_rq_watches_the_data_redis_when_it_is_standalone(redis_server: ManagedRedis) -> None:
    assert _redis_url(REDIS_URL=redis_server.url) == redis_server.url
