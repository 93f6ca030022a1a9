"""A thread's LangGraph index in Redis: where each checkpoint, channel value and pending
write sits among the thread's turns (records.py).

Three keys per thread, under its hash tag (keys.ThreadKeys.checkpoint_index), so one
script reaches them and the turns on a cluster too:

- blobs, a hash: `ns NUL channel NUL version` -> the seq of the turn holding that value,
  and `~through` (the last seq folded in) and `~created` (the incarnation indexed);
- checkpoints, a sorted set by name: `ns NUL id NUL seq,seq,...`: the checkpoint's turn,
  then the turns holding its other channels' values, so a read is one script whatever
  the thread's length;
- writes, a sorted set by name: `ns NUL id NUL task NUL idx NUL seq`.

The index is derived: a read that finds it behind the turns (lost with Redis's data,
expired with a cold thread's turns, or a fold that never ran) folds the missing turns
first (service.py). Its keys live as long as the turns, and go with the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from threadkeeper import keys
from threadkeeper.checkpoints.records import Op
from threadkeeper.codec import as_text
from threadkeeper.store.connection import translated
from threadkeeper.store.scripts import with_preludes


class IndexReply(StrEnum):
    """The first word of the fold and read scripts' replies (checkpoints/lua/*.lua)."""

    OK = "ok"
    MISSING = "missing"  # no such thread in Redis
    ARCHIVED = "archived"  # its turns are only in the archive: rehydrate first (read)
    BEHIND = "behind"  # the index has not folded every turn: fold them first


def _source(name: str) -> str:
    """A script's source; fold.lua's with the store's `keep_for` first (store/lua/ttl.lua)."""
    source = resources.files("threadkeeper.checkpoints").joinpath(f"lua/{name}.lua").read_text()
    return with_preludes(source, ("ttl",) if name == "fold" else ())


@dataclass(frozen=True, slots=True)
class Folded:
    status: IndexReply  # ok | behind | missing
    through: int = 0
    count: int = 0


@dataclass(frozen=True, slots=True)
class Found:
    """What the read script answered: members, their writes, and the turns they name."""

    status: IndexReply  # ok | behind | archived | missing
    members: list[bytes]
    writes: list[list[bytes]]
    held: dict[int, bytes]
    through: int = 0


class CheckpointIndex:
    """The fold and read scripts over one Redis client (passed in, never global)."""

    def __init__(self, redis: Redis) -> None:
        self.redis: Any = redis
        self._fold = redis.register_script(_source("fold"))
        self._read = redis.register_script(_source("read"))

    @staticmethod
    def _keys(tenant: str, thread_id: str) -> list[str]:
        k = keys.thread_keys(tenant, thread_id)
        return [k.meta, k.turns, *k.checkpoint_index]

    @translated
    async def fold(
        self, tenant: str, thread_id: str, expected: int, through: int, ops: list[Op]
    ) -> Folded:
        """Fold the records of turns expected+1..through, if the index is at `expected`."""
        result = await self._fold(self._keys(tenant, thread_id), [expected, through, *ops])
        status = IndexReply(as_text(result[0]))
        if status is IndexReply.BEHIND:
            return Folded(status, int(result[1]), int(result[2]))
        return Folded(status)

    @translated
    async def read(
        self,
        tenant: str,
        thread_id: str,
        *,
        ns: str | None,
        checkpoint_id: str = "",
        before: str = "",
        limit: int = 1,
        one: bool = False,
    ) -> Found:
        args = ["one" if one else "page", ns or "", checkpoint_id, before, limit,
                "1" if ns is None else "0"]  # fmt: skip
        result = await self._read(self._keys(tenant, thread_id), args)
        status = IndexReply(as_text(result[0]))
        if status is not IndexReply.OK:
            through = int(result[1]) if status is IndexReply.BEHIND else 0
            return Found(status, [], [], {}, through)
        flat = result[3]
        held = {int(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        return Found(status, list(result[1]), [list(w) for w in result[2]], held)
