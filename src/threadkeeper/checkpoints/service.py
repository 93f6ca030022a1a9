"""CheckpointService: LangGraph's checkpoint protocol over threadkeeper threads.

A LangGraph thread is a threadkeeper thread (tool `langgraph`, titled with LangGraph's
thread_id). A put, a task's writes, a prune are each one appended turn (records.py)
and one fold into the thread's index (index.py): O(1) in the thread's history. A read
is one script; when the index is behind the turns it folds them first, and when the
thread is cold it rehydrates it first, as any read of a thread does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from threadkeeper.checkpoints import records
from threadkeeper.checkpoints.index import CheckpointIndex, Found, IndexReply
from threadkeeper.codec import encode_turn
from threadkeeper.errors import Conflict, LimitExceeded, ThreadExists, ThreadNotFound
from threadkeeper.service import ThreadService
from threadkeeper.settings import Settings
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.store.records import Reply
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.wire.checkpoints import CheckpointOut, CheckpointPut, WritesPut
from threadkeeper.wire.shapes import MAX_LABEL, NewThread, TurnIn

log = logging.getLogger("threadkeeper.checkpoints")

ATTEMPTS = 4  # a write or read raced by another (a fold, a rehydrate) tries again
PAGE = 100  # checkpoints a filtered listing examines per script call


class CheckpointService:
    """Put, read, list, copy, prune and delete LangGraph checkpoints, per tenant."""

    def __init__(self, store: ThreadStore, threads: ThreadService, settings: Settings) -> None:
        self.store = store
        self.threads = threads
        self.settings = settings
        self.index = CheckpointIndex(store.redis)

    # -- writes ----------------------------------------------------------------

    async def put(self, tenant: str, thread_id: str, put: CheckpointPut) -> int:
        """Store a checkpoint; the seq of its turn."""
        return await self._record(tenant, thread_id, put.thread, records.checkpoint_turn(put))

    async def put_writes(self, tenant: str, thread_id: str, put: WritesPut) -> int:
        """Store a task's pending writes; a (task, idx) already held keeps its first value."""
        return await self._record(tenant, thread_id, put.thread, records.writes_turn(put))

    async def _record(self, tenant: str, thread_id: str, title: str, turn: TurnIn) -> int:
        seq = await self._append(tenant, thread_id, title, turn)
        ops = records.ops(seq, records.record_of(turn))
        folded = await self.index.fold(tenant, thread_id, seq - 1, seq, ops)
        if folded.status is IndexReply.BEHIND:  # another write's fold not in: fold from the turns
            await self._catch_up(tenant, thread_id, folded.through)
        return seq

    async def _append(self, tenant: str, thread_id: str, title: str, turn: TurnIn) -> int:
        blob = encode_turn(turn, self.store.clock())
        self._check_size(thread_id, blob)
        limit = self.settings.limits.max_turns
        for _ in range(ATTEMPTS):
            result = await self.store.append(tenant, thread_id, [blob], max_turns=limit)
            status = result.status
            if status is Reply.OK:
                return result.seqs[0]
            if status is Reply.ARCHIVED:
                await self.threads.tiers.rehydrate_for_write(tenant, thread_id)
            elif status is Reply.MISSING and await self._create(tenant, thread_id, title, turn):
                return 1
            elif status is Reply.FULL:
                raise LimitExceeded(
                    f"thread {thread_id!r} holds {limit} turns (THREADKEEPER_MAX_TURNS): prune "
                    "it (POST /v1/threads/{id}/checkpoints/prune) or raise the limit",
                    thread_id=thread_id, limit=limit, setting="THREADKEEPER_MAX_TURNS",
                )  # fmt: skip
        raise Conflict(f"thread {thread_id!r} kept changing while a checkpoint was stored; retry")

    def _check_size(self, thread_id: str, blob: bytes) -> None:
        limit = self.settings.limits.max_turn_bytes
        if len(blob) > limit:
            raise LimitExceeded(
                f"this LangGraph record for thread {thread_id!r} is {len(blob)} bytes stored; "
                f"the limit is {limit} bytes per turn (THREADKEEPER_MAX_TURN_BYTES): raise it, "
                "or keep big values out of the graph's state",
                limit=limit, setting="THREADKEEPER_MAX_TURN_BYTES",
            )  # fmt: skip

    async def _create(self, tenant: str, thread_id: str, title: str, turn: TurnIn) -> bool:
        new = NewThread(id=thread_id, title=title[:MAX_LABEL], tool=records.TOOL, turns=[turn])
        try:
            await self.threads.create(tenant, new)
        except ThreadExists:
            return False  # created meanwhile: append to it
        return True

    # -- the index, caught up from the turns --------------------------------------

    async def _catch_up(self, tenant: str, thread_id: str, through: int) -> None:
        """Fold every turn after `through` into the index (a page per script call)."""
        page_size = self.settings.limits.max_page
        for _ in range(ATTEMPTS * 1000):
            page = TurnWindow(after=through, limit=page_size)
            read = await self.store.read(tenant, thread_id, page)
            if read is None or not read.turns or not read.turns_in_redis:
                return
            ops = [op for seq, blob in read.turns
                   for op in records.ops(seq, records.stored_record(seq, blob))]  # fmt: skip
            last = read.turns[-1][0]
            folded = await self.index.fold(tenant, thread_id, through, last, ops)
            if folded.status is IndexReply.MISSING:
                return
            through = last if folded.status is IndexReply.OK else folded.through

    async def _found(self, tenant: str, thread_id: str, **query: Any) -> Found | None:
        """The index's answer, once it is caught up and the turns are in Redis; None if no
        such thread."""
        for _ in range(ATTEMPTS):
            found = await self.index.read(tenant, thread_id, **query)
            if found.status is IndexReply.OK:
                return found
            if found.status is IndexReply.MISSING:
                return None
            if found.status is IndexReply.BEHIND:
                await self._catch_up(tenant, thread_id, found.through)
            else:
                await self._rehydrate(tenant, thread_id)
        raise Conflict(f"thread {thread_id!r} kept changing while it was read; retry")

    async def _rehydrate(self, tenant: str, thread_id: str) -> None:
        degraded = await self.threads.tiers.rehydrate_for_read(
            tenant, thread_id, TurnWindow(limit=1)
        )
        if degraded is not None:
            raise Conflict(
                f"thread {thread_id!r} has lost turns ({degraded.missing_detail}): its "
                "checkpoints cannot be read whole; read the thread to see what remains",
                thread_id=thread_id,
            )

    # -- reads -----------------------------------------------------------------

    async def get(
        self, tenant: str, thread_id: str, ns: str, checkpoint_id: str = ""
    ) -> CheckpointOut | None:
        """One checkpoint (the newest of `ns` without an id) with its values and writes."""
        found = await self._found(tenant, thread_id, ns=ns, checkpoint_id=checkpoint_id, one=True)
        if found is None or not found.members:
            return None
        rebuilt = records.Rebuilt(thread_id, found.held)
        return rebuilt.checkpoint(found.members[0], found.writes[0])

    async def listing(
        self,
        tenant: str,
        thread_id: str,
        *,
        ns: str | None,
        before: str = "",
        limit: int,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[list[CheckpointOut], str | None]:
        """Newest first, at most `limit`, those whose metadata holds every `metadata` pair;
        and where to continue (a checkpoint id for `before`) if there may be more."""
        found: list[CheckpointOut] = []
        scanned = 0
        while len(found) < limit and scanned < self.settings.limits.max_list_scan:
            want = limit - len(found) if not metadata else PAGE
            page = await self._found(tenant, thread_id, ns=ns, before=before, limit=want)
            if page is None or not page.members:
                return found, None
            rebuilt = records.Rebuilt(thread_id, page.held)
            for member, writes in zip(page.members, page.writes, strict=True):
                scanned += 1
                before = member.split(b"\0")[1].decode()
                checkpoint = rebuilt.checkpoint(member, writes)
                if checkpoint is not None and _matches(checkpoint.metadata, metadata):
                    found.append(checkpoint)
                    if len(found) == limit:
                        return found, before
            if len(page.members) < want:
                return found, None
        return found, before

    async def checkpoint_ids(self, tenant: str, thread_id: str) -> AsyncIterator[CheckpointOut]:
        """Every checkpoint of the thread, every namespace, newest first."""
        before = ""
        while True:
            page, before_next = await self.listing(
                tenant, thread_id, ns=None, before=before, limit=PAGE
            )
            for checkpoint in page:
                yield checkpoint
            if before_next is None:
                return
            before = before_next

    # -- copy, prune, delete runs ------------------------------------------------

    async def copy(self, tenant: str, source: str, target: str, target_thread: str) -> int:
        """Append the source's LangGraph records to the target (created if need be)."""
        turns = await self._records_of(tenant, source)
        for turn in turns:
            await self._record(tenant, target, target_thread, turn)
        return len(turns)

    async def _records_of(self, tenant: str, thread_id: str) -> list[TurnIn]:
        if await self._found(tenant, thread_id, ns="", limit=1) is None:
            raise await self.threads.explainer.not_found(tenant, thread_id)
        found: list[TurnIn] = []
        page = TurnWindow(limit=self.settings.limits.max_page)
        while True:
            read = await self.store.read(tenant, thread_id, page)
            if read is None:
                raise await self.threads.explainer.not_found(tenant, thread_id)
            found += [turn for seq, blob in read.turns if (turn := records.copied(seq, blob))]
            if not read.more:
                return found
            page = page.next_after(read.turns[-1][0])

    async def prune(self, tenant: str, thread_id: str, strategy: str) -> int:
        """keep_latest: drop all but each namespace's newest checkpoint; delete: the thread."""
        if strategy == "delete":
            try:
                await self.threads.delete(tenant, thread_id)
            except ThreadNotFound:
                return 0
            return 1
        newest: dict[str, str] = {}
        dropped: list[tuple[str, str]] = []
        async for checkpoint in self.checkpoint_ids(tenant, thread_id):
            if checkpoint.ns in newest:
                dropped.append((checkpoint.ns, checkpoint.id))
            else:
                newest[checkpoint.ns] = checkpoint.id
        return await self._drop(tenant, thread_id, dropped, "keep_latest")

    async def delete_runs(self, tenant: str, run_ids: list[str]) -> int:
        """Drop every checkpoint of the tenant's LangGraph threads made by one of `run_ids`.

        Reads every LangGraph thread of the tenant (rehydrating cold ones): an operator's
        clean-up, not a request path.
        """
        wanted, dropped = set(run_ids), 0
        if not wanted:
            return 0
        async for thread_id in self._langgraph_threads(tenant):
            doomed = [
                (c.ns, c.id)
                async for c in self.checkpoint_ids(tenant, thread_id)
                if c.metadata.get("run_id") in wanted
            ]
            dropped += await self._drop(tenant, thread_id, doomed, "runs deleted")
        return dropped

    async def _drop(
        self, tenant: str, thread_id: str, dropped: list[tuple[str, str]], why: str
    ) -> int:
        if dropped:
            title = await self.store.meta_field(tenant, thread_id, "title") or thread_id
            await self._record(tenant, thread_id, title, records.drop_turn(dropped, why))
        return len(dropped)

    async def _langgraph_threads(self, tenant: str) -> AsyncIterator[str]:
        page: ThreadQuery | None = ThreadQuery(
            limit=self.settings.limits.max_page, tool=records.TOOL
        )
        while page is not None:
            listed, cursor = await self.store.listing.threads(tenant, page)
            for row in listed:
                yield row.thread.id
            page = ThreadQuery.decode(cursor, page.limit) if cursor else None


def _matches(metadata: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    return not wanted or all(metadata.get(k) == v for k, v in wanted.items())
