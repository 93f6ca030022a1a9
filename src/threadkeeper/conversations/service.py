"""The Conversations API's operations, each one a ThreadService or Editor call."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from threadkeeper.conversations.items import item_of_turn, public_item, seq_in_id
from threadkeeper.errors import TurnNotFound
from threadkeeper.models import Order, Thread
from threadkeeper.service import ThreadService, fingerprint
from threadkeeper.service.editor import Editor, Patch
from threadkeeper.store.paging import TurnWindow
from threadkeeper.wire.openai import ItemTurn
from threadkeeper.wire.shapes import NewThread, NewTurns

TOOL = "openai-conversations"  # the `tool` of a thread created through this API
FIRST_SCAN = 20  # turns read first when looking for an id the client chose


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: list[dict[str, Any]]
    has_more: bool
    missing: tuple[int, int] | None = None  # seqs nothing holds any more (a degraded read)


def conversation_id(tenant: str, key: str | None, user_id: str | None = None) -> str:
    """A new conversation's id; with an Idempotency-Key, the key's own, so a retry finds it
    (one user's key never names another user's conversation)."""
    if not key:
        return "conv_" + secrets.token_hex(24)
    scope = tenant if user_id is None else f"{tenant}\0user\0{user_id}"
    return "conv_" + hashlib.sha256(f"{scope}\0conversation\0{key}".encode()).hexdigest()[:48]


class Conversations:
    def __init__(self, service: ThreadService) -> None:
        self.service = service
        self.editor = Editor(service)

    async def create(
        self, tenant: str, turns: list[ItemTurn], metadata: dict[str, Any], key: str | None,
        *, user_id: str | None = None,
    ) -> Thread:  # fmt: skip
        """A new conversation, owned by `user_id` (a user token's user) if given."""
        new = NewThread(id=conversation_id(tenant, key, user_id), tool=TOOL, metadata=metadata,
                        turns=list(turns), user_id=user_id)  # fmt: skip
        view, _ = await self.service.create(
            tenant, new, idempotency_key=key, digest=fingerprint(new)
        )
        return view.thread

    async def retrieve(self, tenant: str, conv_id: str) -> Thread:
        thread = await self.service.store.get(tenant, conv_id)
        if thread is None:
            raise await self.service.explainer.not_found(tenant, conv_id)
        return thread

    async def update(self, tenant: str, conv_id: str, metadata: dict[str, Any]) -> Thread:
        return await self.editor.update_thread(tenant, conv_id, Patch({"metadata": metadata}, None))

    async def delete(self, tenant: str, conv_id: str) -> None:
        await self.service.delete(tenant, conv_id)

    async def add_items(
        self, tenant: str, conv_id: str, turns: list[ItemTurn], key: str | None
    ) -> list[dict[str, Any]]:
        new = NewTurns(turns=list(turns))
        result = await self.service.append(
            tenant, conv_id, new, idempotency_key=key, digest=fingerprint(new)
        )
        return [public_item(t.item, s) for t, s in zip(turns, result.seqs, strict=True)]

    async def list_items(
        self, tenant: str, conv_id: str, limit: int, order: Order, after: str | None
    ) -> ItemPage:
        """One page as OpenAI pages: `after` is the last item id of the page before."""
        bound = None if after is None else (await self._find(tenant, conv_id, after))[0]
        page = TurnWindow(order, bound if order == "asc" else None,
                        bound if order == "desc" else None, limit + 1)  # fmt: skip
        found: list[dict[str, Any]] = []
        while True:  # deleted turns are not shown, so a page may need more than one read
            view = await self.service.read(tenant, conv_id, page)
            found += [item_of_turn(t) for t in view.turns]
            if len(found) > limit or view.next is None:
                return ItemPage(found[:limit], len(found) > limit, view.missing)
            page = TurnWindow.decode(view.next, page.limit)

    async def get_item(self, tenant: str, conv_id: str, item_id: str) -> dict[str, Any]:
        return (await self._find(tenant, conv_id, item_id))[1]

    async def delete_item(self, tenant: str, conv_id: str, item_id: str) -> Thread:
        seq, _ = await self._find(tenant, conv_id, item_id)
        await self.editor.delete_turn(tenant, conv_id, seq)
        return await self.retrieve(tenant, conv_id)

    async def _find(self, tenant: str, conv_id: str, item_id: str) -> tuple[int, dict[str, Any]]:
        """(seq, item) of an item id: a made id names its seq; a client's is searched for."""
        seq = seq_in_id(item_id)
        if seq is not None:
            view = await self.service.read(tenant, conv_id, TurnWindow("asc", seq - 1, None, 1))
            for turn in view.turns:
                item = item_of_turn(turn)
                if turn["seq"] == seq and item["id"] == item_id:
                    return seq, item
        # Newest first, a small page first: the item looked up is most often a recent one
        # (the Agents SDK's pop_item), then pages as large as allowed.
        page: TurnWindow | None = TurnWindow("desc", limit=FIRST_SCAN)
        while page is not None:
            view = await self.service.read(tenant, conv_id, page)
            for turn in view.turns:
                item = item_of_turn(turn)
                if item["id"] == item_id:
                    return turn["seq"], item
            limit = self.service.settings.limits.max_page
            page = TurnWindow.decode(view.next, limit) if view.next else None
        raise TurnNotFound(
            f"conversation {conv_id!r} holds no item {item_id!r} (it may have been deleted)",
            thread_id=conv_id,
            item_id=item_id,
        )
