"""The console's search page: the turns that say what was typed, of the threads this
browser's token sees (a user token: its own, as the API's search), each a link to its
thread at that turn. Snippets are text: the template escapes them, only the marks
around each match are ours."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from threadkeeper.search import Filters, Hit, marked
from threadkeeper.ui import session
from threadkeeper.ui.render import console, page
from threadkeeper.web import search_service, thread_service

RESULTS_PER_PAGE = 20


@dataclass(frozen=True, slots=True)
class Result:
    hit: Hit
    parts: list[tuple[str, bool]]  # the snippet's text, each part marked (a match) or not

    @property
    def href(self) -> str:
        return f"/ui/threads/{self.hit.thread_id}?after={self.hit.seq - 1}#turn-{self.hit.seq}"


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    text, spans = marked(snippet)
    parts, at = [], 0
    for start, end in spans:
        parts += [(text[at:start], False), (text[start:end], True)]
        at = end
    return [p for p in [*parts, (text[at:], False)] if p[0]]


@console
async def search_page(request: Request) -> Response:
    caller = session.caller(request)
    tenant = caller.tenant
    mine = Filters(user_id=thread_service(request).access.owner_filter(caller, None, "search"))
    q = request.query_params.get("q", "")
    cursor = request.query_params.get("cursor") or None
    results: list[Result] = []
    next_cursor = None
    if q.strip() or cursor:
        most = request.app.state.settings.limits.max_search_results
        found = await search_service(request).search(
            tenant, q, mine, min(RESULTS_PER_PAGE, most), cursor
        )
        results = [Result(h, snippet_parts(h.snippet)) for h in found.hits]
        next_cursor = found.next
    return page(request, "search.html", nav="search", tenant=tenant, q=q, results=results,
                next_cursor=next_cursor)  # fmt: skip
