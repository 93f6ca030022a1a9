"""Edit or delete one turn, change a thread's title or metadata: the same answer when
repeated, and safe beside concurrent appends (each change is a compare-and-set in Lua).

A deleted turn keeps its seq as a content-free marker, so the other turns keep their
numbers and snapshots stay positional; its content leaves the archive when the next
verified snapshot replaces the older ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from threadkeeper.codec import deleted_at, deleted_marker, edited_turn, is_deleted, turn_json
from threadkeeper.errors import Conflict, TurnNotFound
from threadkeeper.models import Thread
from threadkeeper.service import ThreadService, version_conflict
from threadkeeper.store.edits import Revised, RevisionStore
from threadkeeper.store.records import Reply

ATTEMPTS = 4  # compare-and-set retries when the turn changes under us


@dataclass(frozen=True, slots=True)
class Patch:
    """The fields a change sets (only those sent), and the version it expects."""

    fields: dict[str, Any]
    expected_version: int | None = None

    @classmethod
    def of(cls, body: msgspec.Struct, names: tuple[str, ...]) -> Patch:
        """The fields of a decoded PATCH body that were sent."""
        sent = {n: getattr(body, n) for n in names if getattr(body, n) is not msgspec.UNSET}
        return cls(sent, getattr(body, "expected_version", None))


@dataclass(frozen=True, slots=True)
class TurnChange:
    """What an edit or a deletion left: the turn (None once deleted) and the version."""

    seq: int
    version: int
    turn: dict[str, Any] | None
    changed: bool


class Editor:
    def __init__(self, service: ThreadService) -> None:
        self.service = service
        self.revisions = RevisionStore(service.store)

    async def delete_turn(
        self, tenant: str, thread_id: str, seq: int, expected_version: int | None = None
    ) -> TurnChange:
        """Replace turn `seq` by a marker; deleting it again changes nothing."""
        for _ in range(ATTEMPTS):
            blob = await self._current(tenant, thread_id, seq)
            if is_deleted(blob):
                return TurnChange(seq, await self._version(tenant, thread_id), None, False)
            marker = deleted_marker(seq, blob, self.service.store.clock())
            result = await self.revisions.replace_turn(
                tenant, thread_id, seq, blob, marker, expected_version
            )
            if await self._settled(tenant, thread_id, seq, result):
                return TurnChange(seq, result.version, None, result.status == Reply.OK)
        raise _busy(thread_id, seq)

    async def edit_turn(self, tenant: str, thread_id: str, seq: int, patch: Patch) -> TurnChange:
        """New content and/or metadata for turn `seq`, keeping its seq; records `edited_at`."""
        for _ in range(ATTEMPTS):
            blob = await self._current(tenant, thread_id, seq)
            if is_deleted(blob):
                raise _deleted(thread_id, seq, deleted_at(blob))
            new = edited_turn(seq, blob, patch.fields, self.service.store.clock())
            if new is None:  # already so: the same answer as the edit that made it so
                version = await self._version(tenant, thread_id)
                return TurnChange(seq, version, _turn(seq, blob), False)
            result = await self.revisions.replace_turn(
                tenant, thread_id, seq, blob, new, patch.expected_version
            )
            if await self._settled(tenant, thread_id, seq, result):
                return TurnChange(seq, result.version, _turn(seq, new), True)
        raise _busy(thread_id, seq)

    async def update_thread(self, tenant: str, thread_id: str, patch: Patch) -> Thread:
        """Set the title and/or metadata; the same values again change nothing."""
        for _ in range(ATTEMPTS):
            result = await self.revisions.update_thread(
                tenant, thread_id, patch.fields, patch.expected_version
            )
            if result.status in (Reply.OK, Reply.SAME):
                thread = await self.service.store.get(tenant, thread_id)
                if thread is not None:
                    return thread
            elif result.status == Reply.ARCHIVED:
                await self.service.tiers.rehydrate_for_write(tenant, thread_id)
            else:
                await self._refuse(tenant, thread_id, 0, result)
        raise Conflict(f"thread {thread_id!r} kept changing while being updated; retry")

    async def _current(self, tenant: str, thread_id: str, seq: int) -> bytes:
        """Turn `seq` as stored, rehydrating the thread first if Redis lacks its turns."""
        blob = await self.revisions.turn_blob(tenant, thread_id, seq)
        if blob is not None:
            return blob
        thread = await self.service.store.get(tenant, thread_id)
        if thread is None:
            raise await self.service.explainer.not_found(tenant, thread_id)
        if not 1 <= seq <= thread.turn_count:
            raise _no_turn(thread_id, seq, thread.turn_count)
        await self.service.tiers.rehydrate_for_write(tenant, thread_id)
        blob = await self.revisions.turn_blob(tenant, thread_id, seq)
        if blob is None:
            raise Conflict(f"thread {thread_id!r} changed while it was being rehydrated; retry")
        return blob

    async def _version(self, tenant: str, thread_id: str) -> int:
        thread = await self.service.store.get(tenant, thread_id)
        if thread is None:
            raise await self.service.explainer.not_found(tenant, thread_id)
        return thread.version

    async def _settled(self, tenant: str, thread_id: str, seq: int, result: Revised) -> bool:
        """True once the change is made (or was already); False to read again and retry."""
        if result.status in (Reply.OK, Reply.SAME):
            return True
        if result.status == Reply.CHANGED:
            return False
        if result.status == Reply.ARCHIVED:
            await self.service.tiers.rehydrate_for_write(tenant, thread_id)
            return False
        await self._refuse(tenant, thread_id, seq, result)
        return False

    async def _refuse(self, tenant: str, thread_id: str, seq: int, result: Revised) -> None:
        if result.status == Reply.VERSION:
            raise version_conflict(thread_id, result.version)
        if result.status == Reply.NO_TURN:
            raise _no_turn(thread_id, seq, None)
        raise await self.service.explainer.not_found(tenant, thread_id)


def _turn(seq: int, blob: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(turn_json(seq, blob))
    return decoded


def _no_turn(thread_id: str, seq: int, count: int | None) -> TurnNotFound:
    held = f" (it holds seqs 1-{count})" if count else ""
    return TurnNotFound(
        f"thread {thread_id!r} has no turn {seq}{held}: read the thread for its seqs",
        thread_id=thread_id,
        seq=seq,
    )


def _deleted(thread_id: str, seq: int, at: str) -> TurnNotFound:
    return TurnNotFound(
        f"turn {seq} of thread {thread_id!r} was deleted at {at} and cannot be edited",
        thread_id=thread_id,
        seq=seq,
        deleted_at=at,
    )


def _busy(thread_id: str, seq: int) -> Conflict:
    return Conflict(f"turn {seq} of thread {thread_id!r} kept changing during the edit; retry")
