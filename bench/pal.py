"""PAL's conversation memory on this bench's Redis, run in PAL's own venv (`make bench-pal`).

PAL (`pal-mcp-server` from PyPI) keeps a thread as one JSON blob; its original Redis
backend stored it with `setex` (whole blob, every turn) and read it with `get`. This
script gives `utils.conversation_memory` a storage object that does exactly that on the
bench's Redis, then times PAL's own `add_turn` and `get_thread` on threads of the
given lengths. It prints one JSON object: {"<turns>": {"append_s": [...], "read_s": [...]}}.

    .venv-pal/bin/python bench/pal.py REDIS_URL --turns 1000,10000 --appends 40 --reads 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import redis

os.environ["MAX_CONVERSATION_TURNS"] = str(10**9)  # PAL caps turns at 50 by default
import utils.conversation_memory as memory  # noqa: E402  (PAL's module, from its package)
from common import content  # noqa: E402


class RedisStorage:
    """What PAL's Redis backend did: the whole thread under one key, `setex` on every write."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)

    def setex(self, key: str, ttl_seconds: int, value: str) -> None:
        self.client.setex(key, ttl_seconds, value)

    def get(self, key: str) -> str | None:
        value: Any = self.client.get(key)
        return value


def _prefilled(turns: int) -> str:
    """A thread of `turns` 400 B turns, stored in one setex (as PAL would have left it)."""
    thread_id = memory.create_thread("chat", {"prompt": "bench"})
    context = memory.get_thread(thread_id)
    assert context is not None
    now = datetime.now(UTC).isoformat()
    context.turns = [
        memory.ConversationTurn(
            role="user" if i % 2 else "assistant",
            content=content(i),
            timestamp=now,
            tool_name="chat",
        )  # fmt: skip
        for i in range(turns)
    ]
    memory.get_storage().setex(f"thread:{thread_id}", 10800, context.model_dump_json())
    return thread_id


def measure(turns: int, appends: int, reads: int) -> dict[str, list[float]]:
    thread_id = _prefilled(turns)
    append_s, read_s = [], []
    for i in range(appends):
        started = time.perf_counter()
        if not memory.add_turn(thread_id, "user", content(turns + i), tool_name="chat"):
            raise RuntimeError("PAL add_turn refused the turn")
        append_s.append(time.perf_counter() - started)
    for _ in range(reads):
        started = time.perf_counter()
        context = memory.get_thread(thread_id)
        read_s.append(time.perf_counter() - started)
        assert context is not None and len(context.turns) == turns + appends
    return {"append_s": append_s, "read_s": read_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("redis_url")
    parser.add_argument("--turns", default="1000")
    parser.add_argument("--appends", type=int, default=40)
    parser.add_argument("--reads", type=int, default=10)
    args = parser.parse_args()
    storage = RedisStorage(args.redis_url)
    memory.get_storage = lambda: storage  # PAL's seam: it asks get_storage() every call
    found = {n: measure(int(n), args.appends, args.reads) for n in args.turns.split(",")}
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
