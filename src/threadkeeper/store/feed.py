"""The change feed: one Redis stream per index bucket, an event per change of a thread.

Every script that changes what a thread says (scripts.PRELUDES: feed.lua) records an event:
on a standalone Redis inside the script, atomically with the change (the store passes
the thread's feed bucket as the script's last key); on a cluster the bucket lives in
another slot, so the store writes the event beside the script in the same round trip,
and the search indexer's sweep catches what a crash between the two lost.

An event names the thread and what changed, never the text: the indexer reads the text
from the thread, so a deleted turn is never indexed from a stale event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadkeeper import keys
from threadkeeper.codec import as_text

KINDS = ("create", "append", "edit", "meta", "delete", "restore")


@dataclass(frozen=True, slots=True)
class Event:
    """One change: `seq` is the first turn appended or the turn edited (0: not one turn)."""

    id: str  # the stream entry's id, `<ms>-<n>`
    tenant: str
    thread_id: str
    seq: int
    kind: str

    @property
    def at(self) -> int:
        """When Redis recorded it (ms): the id's first part."""
        return int(self.id.partition("-")[0])


def parse_event(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    f = {as_text(k): as_text(v) for k, v in fields.items()}
    seq = f.get("s", "0")
    return Event(as_text(entry_id), f.get("t", ""), f.get("i", ""),
                 int(seq) if seq.isdigit() else 0, f.get("k", ""))  # fmt: skip


def queue_event(pipe: Any, k: keys.ThreadKeys, kind: str, seq: int = 0) -> None:
    """Queue the event on `pipe`: a cluster's store, beside the script that made the change."""
    fields = {"t": k.tenant, "i": k.thread_id, "s": seq, "k": kind}
    pipe.xadd(k.feed, fields, maxlen=keys.FEED_CAP, approximate=True)
