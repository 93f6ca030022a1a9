"""Routes that move a thread between tiers on request (archive now, rehydrate now)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
