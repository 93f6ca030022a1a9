"""The console's actions: log in and out, archive, rehydrate, fork, delete, export.

Each state-changing action is a POST checked by `session.checked_form`, and calls
the same service and tiering methods as the API's routes, for the browser's tenant.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from threadkeeper.bulk import export as portable
from threadkeeper.errors import Unauthorized
from threadkeeper.runtime import Runtime
from threadkeeper.service import ThreadService
from threadkeeper.ui import session
from threadkeeper.ui.render import console, page, see_other
from threadkeeper.wire.numbers import MAX_SEQ, parse_whole


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _service(request: Request) -> ThreadService:
    return request.app.state.service  # type: ignore[no-any-return]


def _thread_url(thread_id: str, done: str | None = None) -> str:
    url = f"/ui/threads/{quote(thread_id)}"
    return f"{url}?done={done}" if done else url


async def login_page(request: Request) -> Response:
    if not session.login_enabled(request):
        return see_other("/ui/threads")
    return page(request, "login.html", next=session.safe_next(request.query_params.get("next")))


@console
async def login(request: Request) -> Response:
    form = await session.checked_form(request)
    target = session.safe_next(form.get("next"))
    try:
        session.check_token(request, form.get("token", ""))
    except Unauthorized:
        return page(
            request, "login.html", status=401, next=target,
            error="That token is unknown or revoked. Create one with "
            "`threadkeeper tokens add --tenant NAME`.",
        )  # fmt: skip
    response = see_other(target)
    session.remember_token(request, response, form["token"])
    return response


@console
async def logout(request: Request) -> Response:
    await session.checked_form(request)
    response = see_other("/ui/login")
    session.forget_token(response)
    return response


async def _acting(request: Request) -> tuple[str, str, dict[str, str]]:
    """(tenant, thread id, form) of a thread action, after the cross-site checks."""
    form = await session.checked_form(request)
    tenant, thread_id = await session.visible_thread(request)
    return tenant, thread_id, form


@console
async def archive(request: Request) -> Response:
    tenant, thread_id, _ = await _acting(request)
    service = _service(request)
    status, _ = await service.tiers.archive_now(await service.tiers.archivable(tenant, thread_id))
    return see_other(_thread_url(thread_id, status))


@console
async def rehydrate(request: Request) -> Response:
    tenant, thread_id, _ = await _acting(request)
    outcome, _ = await _service(request).tiers.rehydrate_named(tenant, thread_id)
    return see_other(_thread_url(thread_id, outcome.status))


@console
async def fork(request: Request) -> Response:
    tenant, thread_id, form = await _acting(request)
    at_seq = parse_whole(form.get("at_seq", ""), "at_seq", high=MAX_SEQ, field="at_seq")
    view = await _service(request).fork(tenant, thread_id, at_seq, None)
    return see_other(_thread_url(view.thread.id, "forked"))


@console
async def delete(request: Request) -> Response:
    tenant, thread_id, _ = await _acting(request)
    await _service(request).delete(tenant, thread_id)
    # The thread's own page now says when it was deleted.
    return see_other(_thread_url(thread_id))


@console
async def export(request: Request) -> Response:
    """The thread as one JSONL line, the format of `threadkeeper export`."""
    tenant, thread_id = await session.visible_thread(request)
    item = await portable.read_portable(_runtime(request), tenant, thread_id)
    return Response(
        portable.export_line(item) + "\n",
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{thread_id}.jsonl"'},
    )
