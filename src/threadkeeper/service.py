"""What a chat tool can do with its threads, whichever tier holds them.

Reads and appends find a thread hot or archived (rehydrating it first), and when
a thread is gone they say exactly what, when and why.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from threadkeeper import metrics
from threadkeeper.canary import RECOVER, DataLoss, RestartLossProbe
from threadkeeper.codec import (
    DEFAULTS,
    JSON_TURN,
    SHORT_END,
    encode_turn,
    is_deleted,
    stored_turn,
    turn_json,
)
from threadkeeper.errors import (
    ArchiveError,
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    LimitExceeded,
    StoreFull,
    ThreadExists,
    ThreadNotFound,
    VersionConflict,
)
from threadkeeper.models import GoneReason, Thread, ThreadState, rfc3339
from threadkeeper.paging import ThreadPage, TurnPage
from threadkeeper.settings import Settings
from threadkeeper.store import Appended, Listed, ThreadStore
from threadkeeper.tiering import Rehydrated, Tiering
from threadkeeper.wire.shapes import NewThread, NewTurns

log = logging.getLogger(__name__)

TOUCH_EVERY_MS = 60_000  # a read refreshes the hot TTL at most this often


@dataclass(frozen=True, slots=True)
class ThreadView:
    """One page of a thread, with where it came from and anything missing."""

    thread: Thread
    turns_json: list[bytes]  # each turn's public JSON, as stored
    next: str | None
    source: str  # redis | archive
    state: ThreadState
    missing: tuple[int, int] | None = None
    missing_detail: str | None = None

    @property
    def turns(self) -> list[dict[str, Any]]:
        """The page's turns decoded (the CLI and tests; the API sends `turns_json`)."""
        return [msgspec.json.decode(turn) for turn in self.turns_json]


@dataclass(frozen=True, slots=True)
class AppendResult:
    seqs: list[int]
    version: int
    replayed: bool


def fingerprint(body: NewThread | NewTurns) -> str:
    """A stable digest of a decoded request, to tell a retry from a reused key.

    Sorted keys: a retry that sends the same fields in another order is the same request.
    """
    raw = msgspec.json.encode(body, order="sorted")
    return hashlib.sha256(raw).hexdigest()[:32]


def new_thread_id() -> str:
    return secrets.token_urlsafe(16)


def _default_id(tenant: str, key: str | None) -> str:
    """The id of a thread created without one: the key's own, so every retry finds it."""
    if not key:
        return new_thread_id()
    return "k-" + hashlib.sha256(f"{tenant}\0{key}".encode()).hexdigest()[:32]


def _request_create_key() -> str:
    # No ':' (a client's create key is `key:digest`), so the two never collide.
    return "~" + secrets.token_urlsafe(16)


class ThreadService:
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
        self.restart_loss = restart_loss

    # -- create / append -------------------------------------------------------

    async def create(
        self, tenant: str, new: NewThread, *, idempotency_key: str | None = None, digest: str = ""
    ) -> tuple[ThreadView, bool]:
        """Store a new thread; (its first page, created). A keyed retry returns the same."""
        now = self.store.clock()
        blobs = [stored_turn(seq, encode_turn(t, now)) for seq, t in enumerate(new.turns, 1)]
        thread = Thread(
            id=new.id or _default_id(tenant, idempotency_key), tenant=tenant, created_at=now,
            updated_at=now, title=new.title, tool=new.tool, metadata=new.metadata, parent_id=None,
            fork_seq=None, turn_count=len(blobs), byte_count=sum(map(len, blobs)), version=1,
            archived_version=0, archived_at=None, dirty_since=now,
        )  # fmt: skip
        stored, created = await self._create(thread, blobs, idempotency_key, digest)
        if created:
            return self._first_page(stored, blobs), True
        return await self.read(
            tenant, stored.id, TurnPage(limit=self.settings.limits.max_page)
        ), False

    def _first_page(self, thread: Thread, blobs: list[bytes]) -> ThreadView:
        """The page a read would give of a thread just stored from `blobs`, without reading."""
        page = TurnPage(limit=self.settings.limits.max_page)
        turns = list(enumerate(blobs[: page.limit], start=1))
        return _view(thread, turns, len(blobs) > page.limit, page, "redis")

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
            if result.status != "archived" or attempt:
                break
            await self.rehydrate_for_write(tenant, thread_id)
        return await self._append_outcome(tenant, thread_id, result, digest)

    async def rehydrate_for_write(self, tenant: str, thread_id: str) -> None:
        outcome = await self.tiering.rehydrate(tenant, thread_id)
        if outcome.status in ("behind", "lost"):
            first, last = outcome.missing or (0, 0)
            raise Conflict(
                f"thread {thread_id!r} cannot take new turns: turns {first}-{last} are held "
                "neither in Redis nor in the archive. Read it to see what remains, then fork "
                "it at the last turn you have (POST /v1/threads/{id}/fork) to continue",
                thread_id=thread_id,
                missing_turns=[first, last],
            )

    async def _append_outcome(
        self, tenant: str, thread_id: str, result: Appended, digest: str
    ) -> AppendResult:
        if result.status == "ok":
            metrics.record_append(len(result.seqs))
            return AppendResult(result.seqs, result.version, replayed=False)
        if result.status == "duplicate":
            if result.fingerprint != digest:
                raise IdempotencyMismatch(
                    "this Idempotency-Key was already used for a different request on this "
                    "thread: use a new key for new turns, or resend the original body",
                    thread_id=thread_id,
                )
            return AppendResult(result.seqs, result.version, replayed=True)
        if result.status == "version":
            raise version_conflict(thread_id, result.version)
        if result.status == "full":
            raise _too_many_turns(thread_id, result.version, self.settings.limits.max_turns)
        if result.status == "archived":
            raise Conflict(f"thread {thread_id!r} could not be rehydrated for writing; retry")
        raise await self.not_found(tenant, thread_id)

    # -- read ------------------------------------------------------------------

    async def read(self, tenant: str, thread_id: str, page: TurnPage) -> ThreadView:
        source = "redis"
        for _ in range(2):
            found = await self.store.read(tenant, thread_id, page)
            if found is not None and found.turns_in_redis:
                await self._maybe_touch(tenant, found.thread)
                metrics.record_lookup("hot" if source == "redis" else "archive")
                return _view(found.thread, found.turns, found.more, page, source)
            outcome = await self.tiering.rehydrate(tenant, thread_id)
            if outcome.status in ("behind", "lost"):
                metrics.record_lookup("archive")
                return await self._degraded(outcome, page)
            if outcome.status in ("never_archived", "tombstoned"):
                # tombstoned: deleted here, while its snapshots still await the owed purge.
                raise await self.not_found(tenant, thread_id)
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

    async def _degraded(self, outcome: Rehydrated, page: TurnPage) -> ThreadView:
        assert outcome.thread is not None and outcome.missing is not None
        thread = outcome.thread
        held = list(enumerate(outcome.turns, start=1))
        low, high = page.after or 0, page.before or thread.turn_count + 1
        chosen = [(s, b) for s, b in held if low < s < high]
        if page.order == "desc":
            chosen.reverse()
        view = _view(thread, chosen[: page.limit], len(chosen) > page.limit, page, "archive")
        first, last = outcome.missing
        detail = await self._loss_detail(thread, first, last)
        return ThreadView(
            view.thread, view.turns_json, view.next, "archive", ThreadState.ARCHIVED,
            outcome.missing, detail,
        )  # fmt: skip

    async def _loss_detail(self, thread: Thread, first: int, last: int) -> str:
        if self.tiering.archive is None:
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

    # -- not found, said precisely ----------------------------------------------

    async def not_found(self, tenant: str, thread_id: str) -> ThreadNotFound:
        tomb = await self.store.tombstone(tenant, thread_id)
        if tomb is None:
            archived = await self._archive_tombstone(tenant, thread_id)
            if archived is not None:
                return _gone(thread_id, archived.reason, archived.at)
            return await self._never_stored(tenant, thread_id)
        return _gone(thread_id, tomb.reason, tomb.at)

    async def _archive_tombstone(self, tenant: str, thread_id: str) -> Any:
        try:
            return await self.tiering.archive_tombstone(tenant, thread_id)
        except ArchiveError:
            log.warning("archive unreachable while explaining a missing thread %s", thread_id)
            return None

    async def _never_stored(self, tenant: str, thread_id: str) -> ThreadNotFound:
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

    # -- list / delete / fork ---------------------------------------------------

    async def list(self, tenant: str, page: ThreadPage) -> tuple[list[Listed], str | None]:
        return await self.store.list_threads(tenant, page)

    async def delete(
        self, tenant: str, thread_id: str, reason: GoneReason = GoneReason.DELETED
    ) -> None:
        version = await self.store.delete(tenant, thread_id, reason.value)
        if version is None:
            raise await self.not_found(tenant, thread_id)
        try:
            await self.tiering.purge(tenant, thread_id, reason, self.store.clock())
        except ArchiveError as exc:
            # Owed in Redis: the sweeper retries it every tick until the archive takes it.
            log.error(
                "thread %s deleted from Redis; its archive purge failed and will be retried "
                "by the sweeper: %s", thread_id, exc.detail,
            )  # fmt: skip

    async def fork(
        self, tenant: str, thread_id: str, at_seq: int, new_id: str | None
    ) -> ThreadView:
        source = await self.read(tenant, thread_id, TurnPage(limit=1))
        parent = source.thread
        if at_seq > parent.turn_count:
            raise InvalidInput(
                f"at_seq {at_seq} is past the thread's last turn ({parent.turn_count})",
                field="at_seq",
            )
        blobs = await _fork_turns(self.store, self.tiering, parent, at_seq)
        now = self.store.clock()
        thread = Thread(
            id=new_id or new_thread_id(), tenant=tenant, created_at=now, updated_at=now,
            title=parent.title, tool=parent.tool, metadata=parent.metadata,
            parent_id=parent.id, fork_seq=at_seq, turn_count=len(blobs),
            byte_count=sum(map(len, blobs)), version=1, archived_version=0, archived_at=None,
            dirty_since=now,
        )  # fmt: skip
        created, _ = await self._create(thread, blobs, None, "")
        return self._first_page(created, blobs)


def _view(
    thread: Thread, turns: list[tuple[int, bytes]], more: bool, page: TurnPage, source: str
) -> ThreadView:
    # Stored JSON is served as it is, a short turn with its defaults put back; only a turn
    # of the old format is decoded (codec.turn_json). Inline: this runs for every turn.
    # A deleted turn keeps its seq as a marker: no read, page or context shows it.
    stored = [
        blob[:-1] + DEFAULTS if blob[-2:] == SHORT_END
        else blob if blob[0] == JSON_TURN
        else turn_json(seq, blob)
        for seq, blob in turns
        if not is_deleted(blob)
    ]  # fmt: skip
    cursor = page.next_after(turns[-1][0]).encode() if more and turns else None
    # Served from Redis, even if just rehydrated: the source header says where it came from.
    return ThreadView(thread, stored, cursor, source, ThreadState.HOT)


def _restarted_empty(loss: DataLoss) -> str:
    if not loss.master:
        return f"Redis restarted at {rfc3339(loss.at)} WITHOUT its data"
    return (
        f"Redis master {loss.master}, which serves this thread's slot, restarted at "
        f"{rfc3339(loss.at)} WITHOUT its data"
    )


def _gone(thread_id: str, reason: GoneReason, at: int) -> ThreadNotFound:
    why = "by request" if reason is GoneReason.DELETED else "by the retention policy"
    return ThreadNotFound(
        f"thread {thread_id!r} was deleted {why} at {rfc3339(at)}; its turns were removed "
        "and cannot be restored",
        reason=reason.value,
        thread_id=thread_id,
        deleted_at=rfc3339(at),
    )


async def _fork_turns(
    store: ThreadStore, tiering: Tiering, parent: Thread, at_seq: int
) -> list[bytes]:
    """Turns 1..at_seq from Redis, or from the archive for a degraded thread; all or none."""
    if at_seq == 0:
        return []
    blobs = await store.turn_blobs(parent.tenant, parent.id, at_seq)
    if len(blobs) == at_seq:
        return blobs
    outcome = await tiering.rehydrate(parent.tenant, parent.id)
    if outcome.status in ("restored", "present"):
        blobs = await store.turn_blobs(parent.tenant, parent.id, at_seq)
    elif outcome.status == "behind":
        blobs = outcome.turns[:at_seq]
    else:
        blobs = []
    if len(blobs) != at_seq:
        raise _unforkable(parent, at_seq, len(blobs))
    return blobs


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
