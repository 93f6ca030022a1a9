"""Changes to what a thread already holds: one turn replaced in place, its title or metadata.

Each change is one Lua script (validate, then write); the indexes follow in a second
round trip, as after a create: they are hints the sweeper and listing check anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from threadkeeper import keys
from threadkeeper.codec import TURN_FIELD
from threadkeeper.errors import StoreError
from threadkeeper.store.connection import translated
from threadkeeper.store.index_writes import Moved
from threadkeeper.store.records import Reply, reply_of
from threadkeeper.store.thread_store import ThreadStore


@dataclass(frozen=True, slots=True)
class Revised:
    # ok | same (nothing to change) | missing | archived | version | no_turn | changed
    status: Reply
    version: int = 0


_REVISED = {Reply.OK, Reply.SAME, Reply.MISSING, Reply.ARCHIVED, Reply.VERSION, Reply.NO_TURN,
             Reply.CHANGED}  # fmt: skip


def _revised(result: list[Any]) -> Revised:
    status = reply_of(result)
    if status not in _REVISED:
        raise StoreError(f"unexpected answer from a revision script: {status}")
    return Revised(status, int(result[1]) if len(result) > 1 else 0)


class RevisionStore:
    """The Redis side of edits; built over the ThreadStore whose client and scripts it uses."""

    def __init__(self, store: ThreadStore) -> None:
        self.store = store
        self.redis: Any = store.redis

    @translated
    async def turn_blob(self, tenant: str, thread_id: str, seq: int) -> bytes | None:
        """One turn as stored, or None if Redis does not hold it."""
        turns = keys.thread_keys(tenant, thread_id).turns
        entries = await self.redis.xrange(turns, f"0-{seq}", f"0-{seq}")
        return entries[0][1][TURN_FIELD] if entries else None

    @translated
    async def replace_turn(
        self, tenant: str, thread_id: str, seq: int, read: bytes, blob: bytes,
        expected_version: int | None = None,
    ) -> Revised:  # fmt: skip
        """Put `blob` at `seq` if the turn there is still `read` (compare-and-set)."""
        k = keys.thread_keys(tenant, thread_id)
        sha = hashlib.sha1(read, usedforsecurity=False).hexdigest()
        now = self.store.clock()
        expected = "" if expected_version is None else expected_version
        args = [seq, sha, blob, now, expected, self.store.cache_ttl_ms]
        names = self.store.index_writes.with_feed(k, k.edited)
        result = _revised(await self.store.scripts.replace_turn(names, args))
        if result.status == Reply.OK:
            await self.store.index_writes.edited(k, now, "edit", seq)
        return result

    @translated
    async def update_thread(
        self, tenant: str, thread_id: str, fields: dict[str, Any],
        expected_version: int | None = None,
    ) -> Revised:  # fmt: skip
        """Set `title`, `metadata` and/or `user_id` (as the metadata hash holds them)."""
        k = keys.thread_keys(tenant, thread_id)
        now = self.store.clock()
        expected = "" if expected_version is None else expected_version
        pairs: list[Any] = []
        if "title" in fields:
            pairs += ["title", fields["title"] or ""]
        if "metadata" in fields:
            pairs += ["metadata", json.dumps(fields["metadata"], separators=(",", ":"))]
        if "user_id" in fields:
            pairs += ["user_id", fields["user_id"] or ""]
        moved = await self._listings_after(tenant, thread_id, fields)
        if moved is not None:
            pairs += ["listings", " ".join(moved[1])]
        args = [now, expected, self.store.cache_ttl_ms, *pairs]
        names = self.store.index_writes.with_feed(k, k.edited)
        result = _revised(await self.store.scripts.update_thread(names, args))
        if result.status == Reply.OK:
            await self.store.index_writes.edited(k, now, "meta", moved=moved)
        return result

    async def _listings_after(
        self, tenant: str, thread_id: str, fields: dict[str, Any]
    ) -> Moved | None:
        """(before, after) of the owner's and metadata listings holding the thread, when
        `fields` may move it between them; None otherwise (or no such thread)."""
        if "metadata" not in fields and "user_id" not in fields:
            return None
        thread = await self.store.get(tenant, thread_id)
        if thread is None:
            return None
        changed = {name: fields[name] for name in ("metadata", "user_id") if name in fields}
        listings = self.store.index_writes.listings
        return listings(thread), listings(replace(thread, **changed))
