"""Moving threads between the hot tier and the archive, without ever losing a turn.

The invariant: a thread's turns leave Redis only when the archive holds that exact
version (snapshot written, verified, then compare-and-set in Lua), or when it is
deleted by request or by retention.

    base.py       the clients, the outcomes, what every part shares
    archiving.py  hot -> archive (snapshots)
    restoring.py  archive -> hot (rehydration, recovery from the archive alone)
    removal.py    deletion purges and retention
"""

from __future__ import annotations

from threadkeeper.tiering.archiving import Archiving
from threadkeeper.tiering.base import ArchiveTombstone, Held, Rehydrated
from threadkeeper.tiering.removal import Removal
from threadkeeper.tiering.restoring import Restoring

__all__ = ["ArchiveTombstone", "Held", "Rehydrated", "Tiering"]


class Tiering(Archiving, Restoring, Removal):
    """Snapshot, rehydrate, delete from both tiers, and recover from the archive alone."""
