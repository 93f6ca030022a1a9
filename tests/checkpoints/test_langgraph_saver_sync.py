"""The saver's sync twins against a live daemon (the conformance suite drives the async
methods): put, put_writes, get_tuple, list with filter, before and limit, list(None),
copy_thread, prune, delete_for_runs, delete_thread."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import empty_checkpoint

from live_server import LiveServer
from threadkeeper.integrations.langgraph import ThreadkeeperSaver


def config(thread_id: str, checkpoint_id: str | None = None) -> Any:
    conf = {"thread_id": thread_id, "checkpoint_ns": ""}
    return {"configurable": conf | ({"checkpoint_id": checkpoint_id} if checkpoint_id else {})}


def ids(saver: ThreadkeeperSaver, thread_id: str | None, **options: Any) -> list[str]:
    listed = saver.list(config(thread_id) if thread_id else None, **options)
    return [t.checkpoint["id"] for t in listed]


def test_the_sync_twins(live: LiveServer) -> None:
    with ThreadkeeperSaver(live.url) as saver:
        made, at = [], config("sync thread")
        for step in range(3):
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"x": f"value {step}"}
            checkpoint["channel_versions"] = {"x": step + 1}
            run = "r1" if step < 2 else "r2"
            at = saver.put(at, checkpoint, {"step": step, "run_id": run}, {"x": step + 1})
            made.append(checkpoint["id"])
        saver.put_writes(at, [("x", "pending")], "task-1")
        newest = saver.get_tuple(config("sync thread"))
        assert newest is not None and newest.checkpoint["channel_values"] == {"x": "value 2"}
        assert newest.pending_writes == [("task-1", "x", "pending")]
        assert ids(saver, "sync thread") == made[::-1]
        assert ids(saver, "sync thread", filter={"step": 1}) == [made[1]]
        assert ids(saver, "sync thread", limit=2) == made[:0:-1]
        assert ids(saver, "sync thread", before=config("sync thread", made[2])) == made[1::-1]
        assert ids(saver, None) == made[::-1]

        saver.copy_thread("sync thread", "copied thread")
        assert ids(saver, "copied thread") == made[::-1]
        saver.prune(["copied thread"])
        assert ids(saver, "copied thread") == [made[2]]
        saver.delete_for_runs(["r1"])
        assert ids(saver, "sync thread") == [made[2]]
        saver.delete_thread("sync thread")
        assert saver.get_tuple(config("sync thread")) is None
