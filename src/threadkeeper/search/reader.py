"""Read what the index should hold for some threads, from Redis or else from the archive.

The indexer never indexes text from an event: it reads the thread as it is now. A thread
gone from Redis (deleted, retention) becomes a drop; one whose turns were evicted after
archiving is read from its snapshot, without rehydrating it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadkeeper import codec, keys
from threadkeeper.errors import ArchiveError, ThreadkeeperError
from threadkeeper.models import Thread
from threadkeeper.search.index import IndexedThread, ThreadChange, TurnText
from threadkeeper.tiering import Tiering

log = logging.getLogger("threadkeeper.search")


@dataclass(frozen=True, slots=True)
class Wanted:
    """What to read of one thread: all its turns, those from `since`, or these `seqs`."""

    tenant: str
    thread_id: str
    full: bool = True
    since: int = 0  # read turns > since (an append)
    seqs: tuple[int, ...] = ()  # read these turns (edits)
    created_at: int = 0  # the indexed incarnation's: another one is read in full


def turn_text(seq: int, blob: bytes) -> TurnText:
    """A stored turn -> its role and text; a deleted turn's marker -> no text."""
    if codec.is_deleted(blob):
        return TurnText(seq, "", None)
    try:
        turn = codec.load_turn(seq, blob)
    except ThreadkeeperError as exc:
        log.warning("turn %d does not decode, not indexed: %s", seq, exc)
        return TurnText(seq, "", None)
    return TurnText(seq, str(turn.role), turn.content)


def indexed_thread(thread: Thread, raw: dict[Any, Any], max_seq: int) -> IndexedThread:
    user = raw.get(b"user_id") or raw.get("user_id")
    user = codec.as_text(user) if user else None  # issue: users
    return IndexedThread(thread.tenant, thread.id, thread.created_at, thread.version, max_seq,
                         thread.title, thread.tool, user, thread.updated_at)  # fmt: skip


class ThreadReader:
    """Reads threads for the indexer: Redis first, the archive for evicted turns."""

    def __init__(self, redis: Any, tiering: Tiering | None) -> None:
        self.redis = redis
        self.tiering = tiering

    async def read(self, wanted: Sequence[Wanted]) -> list[ThreadChange]:
        """The changes that bring these threads' rows up to date, in one round trip."""
        if not wanted:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for w in wanted:
                k = keys.thread_keys(w.tenant, w.thread_id)
                pipe.hgetall(k.meta)
                low = "-" if w.full else f"0-{min(w.seqs, default=w.since + 1)}"
                pipe.xrange(k.turns, low, "+")
                pipe.exists(k.turns)
            replies = await pipe.execute()
        changes = []
        for i, w in enumerate(wanted):
            raw, entries, present = replies[3 * i : 3 * i + 3]
            changes.append(await self._change(w, raw, entries, bool(present)))
        return changes

    async def _change(
        self, w: Wanted, raw: dict[Any, Any], entries: list[Any], present: bool
    ) -> ThreadChange:
        if not raw:
            return ThreadChange(w.tenant, w.thread_id, None)
        thread = Thread.from_hash(raw)
        if not w.full and thread.created_at != w.created_at:  # the id was re-created
            return (await self.read([Wanted(w.tenant, w.thread_id)]))[0]
        if thread.turn_count > 0 and not present:
            return await self._archived(w, thread, raw)
        turns = [
            turn_text(codec.seq_of(entry_id), fields[codec.TURN_FIELD])
            for entry_id, fields in entries
        ]
        if not w.full and w.seqs:
            turns = [t for t in turns if t.seq in w.seqs]
        row = indexed_thread(thread, raw, thread.turn_count)
        return ThreadChange(w.tenant, w.thread_id, row, turns, replace_all=w.full)

    async def _archived(self, w: Wanted, thread: Thread, raw: dict[Any, Any]) -> ThreadChange:
        """Turns evicted after archiving: the snapshot holds them (read, not rehydrated)."""
        row = indexed_thread(thread, raw, thread.turn_count)
        if not w.full or self.tiering is None or self.tiering.archive is None:
            return ThreadChange(w.tenant, w.thread_id, row)  # the rows already held stand
        try:
            snap = await self.tiering.restorer.load(
                thread.tenant, thread.id, thread.created_at, thread.archived_version
            )
        except (ArchiveError, ThreadkeeperError) as exc:
            log.warning("%s/%s: archived turns unreadable, index rows kept: %s",
                        thread.tenant, thread.id, exc.detail)  # fmt: skip
            return ThreadChange(w.tenant, w.thread_id, row)
        turns = [turn_text(seq, blob) for seq, blob in enumerate(snap.turns, start=1)]
        return ThreadChange(w.tenant, w.thread_id, row, turns, replace_all=True)
