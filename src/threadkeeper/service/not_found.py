"""Not found, said precisely: deleted (when, and why), lost in a restart, or never stored.

Every thread 404 is worded here (`NotFoundExplainer.not_found`, the service's
`explainer`), and so is what a degraded read says of the turns that nothing holds any
more.
"""

from __future__ import annotations

import logging
from typing import Any

from threadkeeper.errors import ArchiveError, ThreadNotFound
from threadkeeper.models import GoneReason, Thread, rfc3339
from threadkeeper.store.canary import RECOVER, DataLoss, RestartLossProbe
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering.restoring import Restorer

log = logging.getLogger("threadkeeper.service")


class NotFoundExplainer:
    """Says why a thread, or some of its turns, is not here.

    The restorer reads the archive's tombstones, and its archive being None means the
    daemon runs cache-only.
    """

    def __init__(
        self, store: ThreadStore, restorer: Restorer, restart_loss: RestartLossProbe | None
    ) -> None:
        self.store = store
        self.restorer = restorer
        self.restart_loss = restart_loss

    async def not_found(self, tenant: str, thread_id: str) -> ThreadNotFound:
        tomb = await self.store.tombstone(tenant, thread_id)
        if tomb is None:
            archived = await self._archive_tombstone(tenant, thread_id)
            if archived is not None:
                return gone(thread_id, archived.reason, archived.at)
            return await self.never_stored(tenant, thread_id)
        return gone(thread_id, tomb.reason, tomb.at)

    async def _archive_tombstone(self, tenant: str, thread_id: str) -> Any:
        try:
            return await self.restorer.archive_tombstone(tenant, thread_id)
        except ArchiveError:
            log.warning("archive unreachable while explaining a missing thread %s", thread_id)
            return None

    async def never_stored(self, tenant: str, thread_id: str) -> ThreadNotFound:
        loss = await self.restart_loss(tenant, thread_id) if self.restart_loss else None
        detail = f"no thread {thread_id!r} is stored here, in Redis or in the archive"
        extra: dict[str, Any] = {}
        if loss is not None:
            detail += f". Note: {_restarted_empty(loss)}; a thread created before then and "
            detail += f"never archived was lost in that restart. If it was archived, {RECOVER}"
            extra["data_lost_at"] = rfc3339(loss.at)
            if loss.master:
                extra["data_lost_on"] = loss.master
        else:
            detail += ": check the id (and the token: threads are per tenant)"
        return ThreadNotFound(
            detail, reason=GoneReason.NEVER_STORED.value, thread_id=thread_id, **extra
        )

    def loss_detail(self, thread: Thread, first: int, last: int) -> str:
        """What a degraded read says of turns `first`-`last`, which nothing holds."""
        if self.restorer.archive is None:
            return (
                f"turns {first}-{last} expired: this daemon runs cache-only (no "
                "THREADKEEPER_ARCHIVE_URL), so turns leave Redis after THREADKEEPER_HOT_TTL "
                "idle. Configure an archive to keep threads"
            )
        archived = (
            f"the archive holds version {thread.archived_version} "
            f"(snapshot of {rfc3339(thread.archived_at)})"
            if thread.archived_version
            else "the archive never received a snapshot of this thread"
        )
        return (
            f"turns {first}-{last} are missing: Redis no longer holds them and {archived}. "
            "They were lost, most likely when Redis restarted without persistence "
            "(check GET /v1/health). Fork at the last turn shown to continue"
        )


def _restarted_empty(loss: DataLoss) -> str:
    if not loss.master:
        return f"Redis restarted at {rfc3339(loss.at)} WITHOUT its data"
    return (
        f"Redis master {loss.master}, which serves this thread's slot, restarted at "
        f"{rfc3339(loss.at)} WITHOUT its data"
    )


def gone(thread_id: str, reason: GoneReason, at: int) -> ThreadNotFound:
    why = "by request" if reason is GoneReason.DELETED else "by the retention policy"
    return ThreadNotFound(
        f"thread {thread_id!r} was deleted {why} at {rfc3339(at)}; its turns were removed "
        "and cannot be restored",
        reason=reason.value,
        thread_id=thread_id,
        deleted_at=rfc3339(at),
    )
