"""LangGraph records as turns: what a put, a task's writes or a prune appends to the thread.

Every record is one turn of the thread (tool_name `langgraph`), its data in the turn's
metadata under `langgraph`, so the thread's own machinery carries it: listing, export,
archive and rehydrate, recover, tombstones. The index (index.py) only points into
these turns, and is rebuilt from them. A checkpoint's turn holds the values of the
channels whose version it changed (each value stored once per version, as LangGraph's
own savers store blobs); its other channels' values are in earlier turns.

A checkpoint turn's role and content are the newest message of its messages channel
when the client sent one (`preview`), so the console reads as the conversation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from threadkeeper.codec import load_turn
from threadkeeper.wire.checkpoints import CheckpointOut, CheckpointPut, PendingWrite, WritesPut
from threadkeeper.wire.shapes import TurnIn

TOOL = "langgraph"
EMPTY = "empty"  # LangGraph's type for a channel with no value at its version
Op = str | int


def version_key(version: str | int | float) -> str:
    """A channel version as the index spells it: its JSON (1, 1.0 and "1" stay apart)."""
    return msgspec.json.encode(version).decode()


def checkpoint_turn(put: CheckpointPut) -> TurnIn:
    record = {
        "kind": "checkpoint", "thread": put.thread, "ns": put.ns, "id": put.id,
        "parent_id": put.parent_id, "checkpoint": put.checkpoint, "versions": put.versions,
        "metadata": put.metadata,
        "values": [[v.channel, v.version, v.value] for v in put.values],
    }  # fmt: skip
    if put.preview is not None:
        role, content = put.preview.role, put.preview.content
    else:
        role, content = "tool", f"LangGraph checkpoint {put.id} (step {put.metadata.get('step')})"
    return TurnIn(role=role, content=content, tool_name=TOOL, metadata={TOOL: record})


def writes_turn(put: WritesPut) -> TurnIn:
    record = {
        "kind": "writes", "ns": put.ns, "checkpoint_id": put.checkpoint_id,
        "task_id": put.task_id, "task_path": put.task_path,
        "writes": [[w.channel, w.idx, w.value] for w in put.writes],
    }  # fmt: skip
    channels = ", ".join(sorted({w.channel for w in put.writes}))
    content = f"LangGraph writes of task {put.task_id}: {channels}"
    return TurnIn(role="tool", content=content, tool_name=TOOL, metadata={TOOL: record})


def drop_turn(dropped: list[tuple[str, str]], why: str) -> TurnIn:
    record = {"kind": "drop", "checkpoints": [list(pair) for pair in dropped]}
    content = f"LangGraph: {len(dropped)} checkpoints dropped ({why})"
    return TurnIn(role="tool", content=content, tool_name=TOOL, metadata={TOOL: record})


def record_of(turn: TurnIn | dict[str, Any]) -> dict[str, Any] | None:
    metadata = turn.metadata if isinstance(turn, TurnIn) else turn.get("metadata", {})
    record = metadata.get(TOOL) if isinstance(metadata, dict) else None
    return record if isinstance(record, dict) else None


def stored_record(seq: int, blob: bytes) -> dict[str, Any] | None:
    """The LangGraph record a stored turn holds, if it holds one."""
    turn = load_turn(seq, blob)
    if turn.tool_name != TOOL:
        return None
    record = turn.metadata.get(TOOL)
    return record if isinstance(record, dict) else None


def copied(seq: int, blob: bytes) -> TurnIn | None:
    """A stored record's turn, to append to another thread (a copy); None for other turns."""
    turn = load_turn(seq, blob)
    if turn.tool_name != TOOL or not isinstance(turn.metadata.get(TOOL), dict):
        return None
    return TurnIn(role=turn.role, content=turn.content, tool_name=TOOL, metadata=turn.metadata)


def ops(seq: int, record: dict[str, Any] | None) -> list[Op]:
    """A record as the index script folds it (checkpoints/lua/fold.lua)."""
    kind = record.get("kind") if record else None
    if record is None or kind not in _OPS:
        return [seq, "-"]
    return [seq, *_OPS[kind](record)]


def _checkpoint_ops(record: dict[str, Any]) -> list[Op]:
    new = [f"{channel}\0{version_key(version)}" for channel, version, _ in record["values"]]
    every = [f"{ch}\0{version_key(v)}" for ch, v in record["versions"].items()]
    return ["c", record["ns"], record["id"], len(new), *new, len(every), *every]


def _writes_ops(record: dict[str, Any]) -> list[Op]:
    task = record["task_id"]
    pairs = [f"{task}\0{idx}" for _, idx, _ in record["writes"]]
    return ["w", record["ns"], record["checkpoint_id"], len(pairs), *pairs]


def _drop_ops(record: dict[str, Any]) -> list[Op]:
    pairs = [f"{ns}\0{cid}" for ns, cid in record["checkpoints"]]
    return ["d", len(pairs), *pairs]


_OPS = {"checkpoint": _checkpoint_ops, "writes": _writes_ops, "drop": _drop_ops}


class Rebuilt:
    """Checkpoints rebuilt from the index's answer: its members and the turns they name."""

    def __init__(self, thread_id: str, held: dict[int, bytes]) -> None:
        self.thread_id = thread_id
        self.held = held
        self._records: dict[int, dict[str, Any]] = {}

    def record(self, seq: int) -> dict[str, Any]:
        if seq not in self._records:
            self._records[seq] = stored_record(seq, self.held[seq]) or {}
        return self._records[seq]

    def checkpoint(self, member: bytes, writes: Iterable[bytes]) -> CheckpointOut | None:
        seqs = [int(s) for s in member.rsplit(b"\0", 1)[1].split(b",") if s]
        if not seqs or seqs[0] not in self.held:
            return None
        record = self.record(seqs[0])
        return CheckpointOut(
            thread_id=self.thread_id, ns=record["ns"], id=record["id"],
            parent_id=record["parent_id"], checkpoint=record["checkpoint"],
            metadata=record["metadata"], values=self._values(record, seqs),
            writes=self._writes(writes),
        )  # fmt: skip

    def _values(self, record: dict[str, Any], seqs: list[int]) -> dict[str, list[str]]:
        stored: dict[tuple[str, str], list[str]] = {}
        for seq in reversed(seqs):  # the checkpoint's own turn wins
            if seq in self.held:
                for channel, version, value in self.record(seq).get("values", []):
                    stored[(channel, version_key(version))] = value
        found = {ch: stored.get((ch, version_key(v))) for ch, v in record["versions"].items()}
        return {ch: value for ch, value in found.items() if value and value[0] != EMPTY}

    def _writes(self, members: Iterable[bytes]) -> list[PendingWrite]:
        found = []
        for member in members:
            _, _, task, idx, seq = member.decode().split("\0")
            if int(seq) not in self.held:
                continue
            record = self.record(int(seq))
            for channel, at, value in record.get("writes", []):
                if at == int(idx):
                    found.append(PendingWrite(task_id=task, channel=channel, value=value,
                                              task_path=record["task_path"], idx=at))  # fmt: skip
                    break
        return sorted(found, key=lambda w: (w.task_path, w.task_id, w.idx))
