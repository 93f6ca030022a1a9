"""Runs inside PAL's own virtualenv (make pal-venv): PAL's published conversation memory,
with `install()`ed threadkeeper storage, driven by JSON lines on stdin.

Each line `{"op": name, ...}` answers one line `{"ok": result}` or `{"error": type,
"message": text}`. Nothing of PAL is copied: these are calls into its `utils` package.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from utils import conversation_memory as memory
from utils.model_context import TokenAllocation

from threadkeeper.integrations.pal import PalStorage, install


class RecordingStorage(PalStorage):
    """The adapter, remembering the last blob PAL handed it per key (to compare with get)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: dict[str, str] = {}

    def setex(self, key: str, ttl_seconds: int, value: str) -> None:
        super().setex(key, ttl_seconds, value)
        self.written[key] = value


class FixedModel:
    """A model context with fixed budgets: PAL's real ones need provider API keys."""

    model_name = "fixed-test-model"

    def calculate_token_allocation(self) -> TokenAllocation:
        return TokenAllocation(total_tokens=1_000_000, content_tokens=800_000,
                               response_tokens=200_000, file_tokens=300_000,
                               history_tokens=400_000)  # fmt: skip

    def estimate_tokens(self, text: str) -> int:
        return len(text) // 4


def run(storage: RecordingStorage, op: str, args: dict[str, Any]) -> Any:
    if op == "create_thread":
        return memory.create_thread(args["tool_name"], args["initial_request"],
                                    args.get("parent_thread_id"))  # fmt: skip
    if op == "add_turn":
        return memory.add_turn(**args)
    if op == "add_turns":  # one writer's loop: n turns, each its own read-modify-write
        return [memory.add_turn(args["thread_id"], "user", f"{args['tag']}-{i}")
                for i in range(args["n"])]  # fmt: skip
    if op == "get_thread":
        context = memory.get_thread(args["thread_id"])
        return None if context is None else context.model_dump_json()
    if op == "get_thread_chain":
        return [c.thread_id for c in memory.get_thread_chain(args["thread_id"])]
    if op == "history":
        context = memory.get_thread(args["thread_id"])
        assert context is not None
        no_files = lambda files: ""  # noqa: E731 (the turns here name no readable files)
        text, tokens = memory.build_conversation_history(context, FixedModel(), no_files)
        return [text, tokens]
    if op == "stored_and_written":
        key = f"thread:{args['thread_id']}"
        return [storage.get(key), storage.written.get(key)]
    if op == "backend_is_ours":
        from utils.storage_backend import get_storage_backend

        return get_storage_backend() is storage
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    storage = RecordingStorage()
    install(storage)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer: dict[str, Any] = {"ok": run(storage, request.pop("op"), request)}
        except Exception as exc:  # reported to the test, which decides
            answer = {"error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(answer), flush=True)
    storage.shutdown()


if __name__ == "__main__":
    main()
