"""GET /v1/search: full-text search of the caller's threads (threadkeeper.search).

A user token finds its own threads' turns only: the owner is a condition of the index
query itself, so counting, limiting and paging never see another user's turns.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadkeeper.models import Caller, rfc3339
from threadkeeper.search import Filters, Hit, marked
from threadkeeper.settings import Settings
from threadkeeper.web import (
    int_param,
    request_caller,
    search_service,
    thread_service,
    time_param,
    wire_response,
)
from threadkeeper.wire.decode import check_id
from threadkeeper.wire.shapes import SearchHit, SearchResults

DEFAULT_RESULTS = 20


def wire_hit(hit: Hit) -> SearchHit:
    snippet, spans = marked(hit.snippet)
    return SearchHit(thread_id=hit.thread_id, seq=hit.seq, role=hit.role, title=hit.title,
                     tool=hit.tool, snippet=snippet, highlights=spans, score=hit.score,
                     updated_at=rfc3339(hit.updated_at))  # fmt: skip


def filters_of(request: Request, caller: Caller) -> Filters:
    """The query's filters, narrowed to the threads `caller` may see (service.access)."""
    params = request.query_params
    asked = params.get("user_id") or None
    owner = thread_service(request).access.owner_filter(
        caller, None if asked is None else check_id(asked, "user_id"), "search the threads of"
    )
    return Filters(tool=params.get("tool") or None,
                   updated_after=time_param(params, "updated_after"),
                   updated_before=time_param(params, "updated_before"),
                   user_id=owner)  # fmt: skip


async def search(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    caller = request_caller(request)
    most = settings.limits.max_search_results
    limit = int_param(request, "limit", low=1, high=most) or min(DEFAULT_RESULTS, most)
    page = await search_service(request).search(
        caller.tenant, request.query_params.get("q"), filters_of(request, caller), limit,
        request.query_params.get("cursor") or None,
    )  # fmt: skip
    return wire_response(SearchResults(results=[wire_hit(h) for h in page.hits], next=page.next))


routes = [Route("/v1/search", search, methods=["GET"])]
