"""Moving threads between the hot tier and the archive, without ever losing a turn.

The invariant: a thread's turns leave Redis only when the archive holds that exact
version (snapshot written, verified, then compare-and-set in Lua), or when it is
deleted by request or by retention.

    archiving.py       Archiver: hot -> archive (snapshots)
    restoring.py       Restorer: archive -> hot (rehydration, recovery from the archive
                       alone), and the archive's tombstones
    removal.py         Remover: deletion purges and retention
    archive_access.py  what the three share over the archive: requiring it, reading a
                       snapshot within the limits, counting a failure
    records.py         what they hand back (Rehydrated, Held, RetentionOutcome...)
    sweeper.py         the periodic pass that hands them batches
"""

from __future__ import annotations

import redis

from threadkeeper.archive import Archive
from threadkeeper.settings import Settings
from threadkeeper.store.canary import RestartLossProbe
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering.archiving import Archiver
from threadkeeper.tiering.records import ArchiveTombstone, Held, Rehydrated, RetentionOutcome
from threadkeeper.tiering.removal import Remover
from threadkeeper.tiering.restoring import Restorer

__all__ = ["ArchiveTombstone", "Held", "Rehydrated", "RetentionOutcome", "Tiering"]


class Tiering:
    """The archiver, the restorer and the remover of one process, over the same clients.

    Callers name the part they use (`tiering.restorer.rehydrate(...)`). `counters` is a
    worker's sync client, so the counts it records reach the API's /metrics.
    """

    def __init__(
        self,
        store: ThreadStore,
        archive: Archive | None,
        settings: Settings,
        *,
        counters: redis.Redis | None = None,
        restart_loss: RestartLossProbe | None = None,
    ) -> None:
        self.archive = archive  # None: cache-only, the turns leave Redis on the hot TTL
        self.archiver = Archiver(store, archive, settings.limits, counters=counters)
        self.restorer = Restorer(
            store, archive, settings.limits, counters=counters, restart_loss=restart_loss
        )
        self.remover = Remover(store, archive, settings.retention, counters=counters)
