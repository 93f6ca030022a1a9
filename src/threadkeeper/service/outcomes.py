"""What each tier outcome means for a caller, decided in one place.

Reads, writes, forks, exports, the API's archive and rehydrate routes, the console
and the bulk commands all move threads between tiers through here, so a thread not
here is always its not-found (deleted, with when and why; or never stored), and
turns that nothing holds are always named the same way: a degraded read, a
conflict for a write or a fork, a refused export.
"""

from __future__ import annotations

from dataclasses import replace

from threadkeeper import metrics
from threadkeeper.errors import Conflict, SnapshotCorrupt
from threadkeeper.models import ArchiveStatus, RehydrateStatus, Thread, ThreadState
from threadkeeper.service.not_found import NotFoundExplainer
from threadkeeper.service.views import ImportOutcome, Portable, ThreadRead, page_view
from threadkeeper.store.paging import TurnWindow
from threadkeeper.store.records import Reply
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering import Held, Rehydrated, Tiering
from threadkeeper.tiering.archive_access import require_archive


class TierOutcomes:
    """The service's part that moves threads between tiers and judges what came of it."""

    def __init__(self, store: ThreadStore, tiering: Tiering, explainer: NotFoundExplainer) -> None:
        self.store = store
        self.tiering = tiering
        self.explainer = explainer

    # -- a thread asked for by name ----------------------------------------------

    async def existing(self, tenant: str, thread_id: str) -> Thread:
        """The thread's metadata, or its not-found."""
        thread = await self.store.get(tenant, thread_id)
        if thread is None:
            raise await self.explainer.not_found(tenant, thread_id)
        return thread

    async def state(self, thread: Thread) -> ThreadState:
        """Hot while its turns are in Redis, archived once only the archive holds them."""
        present = thread.turn_count == 0 or await self.store.turns_exist(thread.tenant, thread.id)
        return ThreadState.HOT if present else ThreadState.ARCHIVED

    async def archivable(self, tenant: str, thread_id: str) -> Thread:
        """A thread to archive on request: an archive is configured and the thread is here."""
        require_archive(self.tiering.archive)
        return await self.existing(tenant, thread_id)

    async def archive_now(self, thread: Thread) -> tuple[ArchiveStatus, Thread]:
        """Snapshot an existing thread now, inline: what came of it, and the thread after."""
        status = await self.archive(thread.tenant, thread.id)
        return status, await self.existing(thread.tenant, thread.id)

    async def rehydrate_named(self, tenant: str, thread_id: str) -> tuple[Rehydrated, Thread]:
        """Bring one thread's turns back now; a thread not here is its not-found."""
        outcome = await self.rehydrate(tenant, thread_id)
        if outcome.absent or outcome.thread is None:
            raise await self.explainer.not_found(tenant, thread_id)
        return outcome, outcome.thread

    # -- any thread: every outcome, for the bulk commands to count ----------------

    async def archive(self, tenant: str, thread_id: str) -> ArchiveStatus:
        """Snapshot now: archived | clean | moved | missing (no such thread) | incomplete."""
        return await self.tiering.archiver.archive_thread(tenant, thread_id)

    async def rehydrate(self, tenant: str, thread_id: str) -> Rehydrated:
        """Bring the turns back: restored | present, or partial, or absent (`Rehydrated`)."""
        return await self.tiering.restorer.rehydrate(tenant, thread_id)

    async def recover(self, tenant: str, thread_id: str, held: Held) -> RehydrateStatus:
        """Rebuild a thread Redis lost from what a scan of the archive found (`recover`):
        restored | present | tombstoned | behind | missing."""
        outcome = await self.tiering.restorer.recover_thread(tenant, thread_id, held)
        # Its tombstone gone since the scan, a thread with no snapshot has nothing to recover.
        if outcome.status is RehydrateStatus.NEVER_ARCHIVED:
            return RehydrateStatus.MISSING
        return outcome.status

    # -- turns only the archive holds, for a read, a write, a fork, an export ------

    async def rehydrate_for_read(
        self, tenant: str, thread_id: str, page: TurnWindow
    ) -> ThreadRead | None:
        """None once the turns are back in Redis (read them there again); a degraded
        page when nothing holds some; a not-found when the thread is not here."""
        outcome = await self.rehydrate(tenant, thread_id)
        if outcome.partial:
            metrics.record_lookup("archive")
            return self._degraded(outcome, page)
        if outcome.absent:
            # tombstoned: deleted here, while its snapshots still await the owed purge.
            raise await self.explainer.not_found(tenant, thread_id)
        return None

    def _degraded(self, outcome: Rehydrated, page: TurnWindow) -> ThreadRead:
        assert outcome.thread is not None and outcome.missing is not None
        thread = outcome.thread
        held = list(enumerate(outcome.turns, start=1))
        low, high = page.after or 0, page.before or thread.turn_count + 1
        chosen = [(s, b) for s, b in held if low < s < high]
        if page.order == "desc":
            chosen.reverse()
        view = page_view(thread, chosen[: page.limit], len(chosen) > page.limit, page, "archive")
        first, last = outcome.missing
        detail = self.explainer.loss_detail(thread, first, last)
        return replace(view, source="archive", state=ThreadState.ARCHIVED,
                       missing=outcome.missing, missing_detail=detail)  # fmt: skip

    async def rehydrate_for_write(self, tenant: str, thread_id: str) -> None:
        outcome = await self.rehydrate(tenant, thread_id)
        if outcome.partial:
            first, last = outcome.missing or (0, 0)
            raise Conflict(
                f"thread {thread_id!r} cannot take new turns: turns {first}-{last} are held "
                "neither in Redis nor in the archive. Read it to see what remains, then fork "
                "it at the last turn you have (POST /v1/threads/{id}/fork) to continue",
                thread_id=thread_id,
                missing_turns=[first, last],
            )

    async def fork_turns(self, parent: Thread, at_seq: int) -> list[bytes]:
        """Turns 1..at_seq from Redis, or from the archive for a degraded thread; all or none."""
        if at_seq == 0:
            return []
        blobs = await self.store.turn_blobs(parent.tenant, parent.id, at_seq)
        if len(blobs) == at_seq:
            return blobs
        outcome = await self.rehydrate(parent.tenant, parent.id)
        if outcome.status in (RehydrateStatus.RESTORED, RehydrateStatus.PRESENT):
            blobs = await self.store.turn_blobs(parent.tenant, parent.id, at_seq)
        elif outcome.status == RehydrateStatus.BEHIND:
            blobs = outcome.turns[:at_seq]
        else:
            blobs = []
        if len(blobs) != at_seq:
            raise _unforkable(parent, at_seq, len(blobs))
        return blobs

    async def whole(self, tenant: str, thread_id: str) -> Portable:
        """The whole thread (export), rehydrating it first if its turns are only archived."""
        state = await self.store.all_turns(tenant, thread_id)
        if state is None or len(state[1]) != state[0].turn_count:
            outcome = await self.rehydrate(tenant, thread_id)
            if outcome.partial:
                first, last = outcome.missing or (0, 0)
                raise SnapshotCorrupt(
                    f"thread {tenant}:{thread_id} cannot be exported whole: turns "
                    f"{first}-{last} are held neither in Redis nor in the archive",
                    thread_id=thread_id,
                )
            state = await self.store.all_turns(tenant, thread_id)
        if state is None:
            raise await self.explainer.not_found(tenant, thread_id)
        return Portable(*state)

    async def import_whole(self, item: Portable) -> ImportOutcome:
        """Write one thread as new and dirty, in one step: imported | exists | tombstoned."""
        thread = item.thread
        if await self.store.get(thread.tenant, thread.id) is not None:
            return ImportOutcome.EXISTS
        # Dirty on arrival, so this machine's sweeper archives it; nothing dirty carries
        # a TTL unless the daemon runs cache-only.
        result = await self.store.restore(
            thread, item.blobs, item.idempotency, create_meta=True,
            ttl=self.tiering.archive is None,
        )  # fmt: skip
        if result.status == Reply.OK:
            return ImportOutcome.IMPORTED
        if result.status in (Reply.PRESENT, Reply.BEHIND):
            return ImportOutcome.EXISTS
        return ImportOutcome(result.status)  # tombstoned: deleted here, not revived


def _unforkable(parent: Thread, at_seq: int, held: int) -> Conflict:
    first, last = held + 1, parent.turn_count
    have = f"only turns 1-{held} are held" if held else "none of its turns is held"
    return Conflict(
        f"thread {parent.id!r} cannot be forked at turn {at_seq}: {have}; turns {first}-{last} "
        f"are held neither in Redis nor in the archive. Fork at turn {held} or earlier "
        "(nothing was created)",
        thread_id=parent.id,
        missing_turns=[first, last],
    )
