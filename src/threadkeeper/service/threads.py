"""ThreadService: create, append, read, list, delete and fork threads, in either tier.

It owns two collaborators: `tiers` (outcomes.py, what each tier outcome means) and
`explainer` (not_found.py, every thread 404); views.py holds what a read hands back.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

import msgspec

from threadkeeper import metrics
from threadkeeper.codec import encode_turn
from threadkeeper.errors import (
    ArchiveError,
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    LimitExceeded,
    StoreFull,
    ThreadExists,
    VersionConflict,
)
from threadkeeper.models import GoneReason, Thread
from threadkeeper.service.access import ThreadAccess
from threadkeeper.service.not_found import NotFoundExplainer
from threadkeeper.service.outcomes import TierOutcomes
from threadkeeper.service.views import AppendResult, ThreadRead, page_view
from threadkeeper.settings import Settings
from threadkeeper.store.canary import RestartLossProbe
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.store.records import Appended, Listed, Reply
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.tiering import Tiering
from threadkeeper.wire.shapes import NewThread, NewTurns

log = logging.getLogger("threadkeeper.service")

TOUCH_EVERY_MS = 60_000  # a read refreshes the hot TTL at most this often


def fingerprint(body: NewThread | NewTurns) -> str:
    """A stable digest of a decoded request, to tell a retry from a reused key.

    Sorted keys: a retry that sends the same fields in another order is the same request.
    """
    raw = msgspec.json.encode(body, order="sorted")
    return hashlib.sha256(raw).hexdigest()[:32]


def new_thread_id() -> str:
    return secrets.token_urlsafe(16)


def _default_id(tenant: str, key: str | None, user_id: str | None) -> str:
    """The id of a thread created without one: the key's own, so every retry finds it
    (one user's key never names another user's thread)."""
    if not key:
        return new_thread_id()
    scope = tenant if user_id is None else f"{tenant}\0user\0{user_id}"
    return "k-" + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:32]


def _request_create_key() -> str:
    # No ':' (a client's create key is `key:digest`), so the two never collide.
    return "~" + secrets.token_urlsafe(16)


class ThreadService:
    """What a chat tool can do with its threads: create, append, read, list, delete, fork.

    Moving threads between tiers and judging what came of it is `tiers`'s; saying why a
    thread is not here is `explainer`'s; who may touch a thread is `access`'s.
    """

    def __init__(
        self,
        store: ThreadStore,
        tiering: Tiering,
        settings: Settings,
        restart_loss: RestartLossProbe | None = None,
    ) -> None:
        self.store = store
        self.tiering = tiering
        self.settings = settings
        self.explainer = NotFoundExplainer(store, tiering.restorer, restart_loss)
        self.tiers = TierOutcomes(store, tiering, self.explainer)
        self.access = ThreadAccess(store, self.explainer.never_stored)

    # -- create / append -------------------------------------------------------

    async def create(
        self, tenant: str, new: NewThread, *, idempotency_key: str | None = None, digest: str = ""
    ) -> tuple[ThreadRead, bool]:
        """Store a new thread; (its first page, created). A keyed retry returns the same."""
        now = self.store.clock()
        blobs = [encode_turn(t, now) for t in new.turns]
        thread_id = new.id or _default_id(tenant, idempotency_key, new.user_id)
        thread = Thread(
            id=thread_id, tenant=tenant, created_at=now, updated_at=now, title=new.title,
            tool=new.tool, metadata=new.metadata, parent_id=None, fork_seq=None,
            turn_count=len(blobs), byte_count=sum(map(len, blobs)), version=1,
            archived_version=0, archived_at=None, dirty_since=now, user_id=new.user_id,
        )  # fmt: skip
        stored, created = await self._create(thread, blobs, idempotency_key, digest)
        if created:
            return self._first_page(stored, blobs), True
        return await self.read(
            tenant, stored.id, TurnWindow(limit=self.settings.limits.max_page)
        ), False

    def _first_page(self, thread: Thread, blobs: list[bytes]) -> ThreadRead:
        """The page a read would give of a thread just stored from `blobs`, without reading."""
        page = TurnWindow(limit=self.settings.limits.max_page)
        turns = list(enumerate(blobs[: page.limit], start=1))
        return page_view(thread, turns, len(blobs) > page.limit, page, "redis")

    async def _create(
        self, thread: Thread, blobs: list[bytes], key: str | None, digest: str
    ) -> tuple[Thread, bool]:
        # Always a create key: without the client's, one of this request alone, so redis-py
        # resending the create after a lost reply finds its own thread, not a conflict.
        create_key = f"{key}:{digest}" if key else _request_create_key()
        if await self.store.create(thread, blobs, create_key=create_key):
            return thread, True
        existing = await self.store.meta_field(thread.tenant, thread.id, "create_key")
        if existing == create_key:
            found = await self.store.get(thread.tenant, thread.id)
            if found is not None:
                return found, key is None  # the client's key: a replay; ours: this create
        if key and existing and existing.rpartition(":")[0] == key:
            raise IdempotencyMismatch(
                f"this Idempotency-Key already created thread {thread.id!r} from a different "
                "request: use a new key for a new thread, or resend the original body",
                thread_id=thread.id,
            )
        raise ThreadExists(
            f"thread {thread.id!r} already exists: read it with GET /v1/threads/{thread.id}, "
            "or create without an id to get a fresh one",
            thread_id=thread.id,
        )

    async def append(
        self,
        tenant: str,
        thread_id: str,
        new: NewTurns,
        *,
        idempotency_key: str | None = None,
        digest: str = "",
    ) -> AppendResult:
        now = self.store.clock()
        bodies = [encode_turn(t, now) for t in new.turns]
        for attempt in range(2):
            result = await self.store.append(
                tenant, thread_id, bodies, max_turns=self.settings.limits.max_turns,
                expected_version=new.expected_version, idempotency_key=idempotency_key,
                fingerprint=digest,
            )  # fmt: skip
            if result.status != Reply.ARCHIVED or attempt:
                break
            await self.tiers.rehydrate_for_write(tenant, thread_id)
        return await self._append_outcome(tenant, thread_id, result)

    async def _append_outcome(self, tenant: str, thread_id: str, result: Appended) -> AppendResult:
        if result.status == Reply.OK:
            metrics.record_append(len(result.seqs))
            return AppendResult(result.seqs, result.version, replayed=False)
        if result.status == Reply.MISMATCH:
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used for a different request on this "
                "thread: use a new key for new turns, or resend the original body",
                thread_id=thread_id,
            )
        if result.status == Reply.DUPLICATE:
            return AppendResult(result.seqs, result.version, replayed=True)
        if result.status == Reply.VERSION:
            raise version_conflict(thread_id, result.version)
        if result.status == Reply.FULL:
            raise _too_many_turns(thread_id, result.version, self.settings.limits.max_turns)
        if result.status == Reply.ARCHIVED:
            raise Conflict(f"thread {thread_id!r} could not be rehydrated for writing; retry")
        raise await self.explainer.not_found(tenant, thread_id)

    # -- read ------------------------------------------------------------------

    async def read(self, tenant: str, thread_id: str, page: TurnWindow) -> ThreadRead:
        source = "redis"
        for _ in range(2):
            found = await self.store.read(tenant, thread_id, page)
            if found is not None and found.turns_in_redis:
                await self._maybe_touch(tenant, found.thread)
                metrics.record_lookup("hot" if source == "redis" else "archive")
                return page_view(found.thread, found.turns, found.more, page, source)
            degraded = await self.tiers.rehydrate_for_read(tenant, thread_id, page)
            if degraded is not None:
                return degraded
            source = "archive"
        raise Conflict(f"thread {thread_id!r} changed while it was being rehydrated; retry")

    async def _maybe_touch(self, tenant: str, thread: Thread) -> None:
        last = max(thread.touched_at or 0, thread.updated_at)
        if self.store.clock() - last < TOUCH_EVERY_MS:
            return
        try:
            await self.store.touch(tenant, thread.id)
        except StoreFull:
            # Best-effort: at maxmemory the read still answers; the thread keeps its
            # previous TTL (clean threads are in the archive, dirty ones have none).
            metrics.record_touch_skipped()

    # -- list / delete / fork ---------------------------------------------------

    async def list(self, tenant: str, page: ThreadQuery) -> tuple[list[Listed], str | None]:
        return await self.store.listing.threads(tenant, page)

    async def delete(
        self, tenant: str, thread_id: str, reason: GoneReason = GoneReason.DELETED
    ) -> None:
        version = await self.store.delete(tenant, thread_id, reason.value)
        if version is None:
            raise await self.explainer.not_found(tenant, thread_id)
        try:
            await self.tiering.remover.purge(tenant, thread_id, reason, self.store.clock())
        except ArchiveError as exc:
            # Owed in Redis: the sweeper retries it every tick until the archive takes it.
            log.error(
                "thread %s deleted from Redis; its archive purge failed and will be retried "
                "by the sweeper: %s", thread_id, exc.detail,
            )  # fmt: skip

    async def fork(
        self, tenant: str, thread_id: str, at_seq: int, new_id: str | None
    ) -> ThreadRead:
        source = await self.read(tenant, thread_id, TurnWindow(limit=1))
        parent = source.thread
        if at_seq > parent.turn_count:
            raise InvalidInput(
                f"at_seq {at_seq} is past the thread's last turn ({parent.turn_count})",
                field="at_seq",
            )
        blobs = await self.tiers.fork_turns(parent, at_seq)
        now = self.store.clock()
        thread = Thread(
            id=new_id or new_thread_id(), tenant=tenant, created_at=now, updated_at=now,
            title=parent.title, tool=parent.tool, metadata=parent.metadata,
            parent_id=parent.id, fork_seq=at_seq, turn_count=len(blobs),
            byte_count=sum(map(len, blobs)), version=1, archived_version=0, archived_at=None,
            dirty_since=now, user_id=parent.user_id,
        )  # fmt: skip
        created, _ = await self._create(thread, blobs, None, "")
        return self._first_page(created, blobs)


def version_conflict(thread_id: str, version: int) -> VersionConflict:
    return VersionConflict(
        f"thread {thread_id!r} is at version {version}, not the expected one: "
        "read it again and retry with the current version",
        thread_id=thread_id,
        current_version=version,
    )


def _too_many_turns(thread_id: str, count: int, limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"thread {thread_id!r} holds {count} turns and this append would pass the limit of "
        f"{limit} (THREADKEEPER_MAX_TURNS): fork or start a new thread",
        thread_id=thread_id,
        limit=limit,
        setting="THREADKEEPER_MAX_TURNS",
    )
