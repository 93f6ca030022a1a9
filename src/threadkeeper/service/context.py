"""The newest turns of a thread that fit a token budget, read through ThreadService."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from threadkeeper.service import ThreadRead, ThreadService
from threadkeeper.store.paging import TurnWindow
from threadkeeper.wire.shapes import Turn

_decode_turn = msgspec.json.Decoder(Turn).decode


@dataclass(frozen=True, slots=True)
class Context:
    """The kept turns (oldest first), their cost, and the last page read (state, loss)."""

    view: ThreadRead
    turns_json: list[bytes]
    tokens: int

    @property
    def omitted(self) -> int:
        """Turns left out for the budget; turns nothing holds any more are not counted."""
        missing = self.view.missing
        lost = missing[1] - missing[0] + 1 if missing is not None else 0
        return self.view.thread.turn_count - lost - len(self.turns_json)


def turn_cost(turn: Turn) -> int:
    """The turn's token count, or about four characters a token where none was given."""
    return turn.tokens if turn.tokens is not None else -(-len(turn.content) // 4)


async def fill_context(
    service: ThreadService, tenant: str, thread_id: str, budget: int, page_size: int
) -> Context:
    page: TurnWindow | None = TurnWindow(order="desc", limit=page_size)
    kept: list[bytes] = []
    used = 0
    while page is not None:
        view = await service.read(tenant, thread_id, page)
        for raw in view.turns_json:
            cost = turn_cost(_decode_turn(raw))
            if used + cost > budget:
                kept.reverse()
                return Context(view, kept, used)
            used += cost
            kept.append(raw)
        page = TurnWindow.decode(view.next, page.limit) if view.next else None
    kept.reverse()
    return Context(view, kept, used)
