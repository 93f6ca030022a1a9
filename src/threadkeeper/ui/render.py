"""Rendering console pages: the jinja2 environment, the page helper, errors as pages.

Autoescape is on for every template: titles, turn contents and metadata are
untrusted and always render as text. The Content-Security-Policy allows only this
server's own script and style, so even a missed escape could not run a script.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from threadkeeper.errors import ThreadkeeperError
from threadkeeper.models import rfc3339
from threadkeeper.ui import session

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("threadkeeper.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: str | int | None) -> str:
    """An RFC 3339 string or epoch ms as `2026-01-31 12:00:03 UTC`."""
    if value is None or value == "":
        return "—"
    text = rfc3339(value) if isinstance(value, int) else value
    return f"{text[:10]} {text[11:19]} UTC" if text else "—"


_ENV.filters["when"] = _when
_ENV.filters["iso"] = rfc3339


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render `template` with what every page shows (nav, CSRF value, login state)."""
    context.setdefault("csrf", session.csrf_value(request))
    context.setdefault("logged_in", session.logged_in(request))
    context.setdefault("nav", "")
    html = _ENV.get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    session.remember_csrf(request, response)
    return response


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def console(handler: Handler) -> Handler:
    """A console route: log in first when needed; an error is a page that says what to do."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except session.LoginNeeded:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            if request.method != "GET":
                target = "/ui/threads"
            return see_other("/ui/login?next=" + quote(target, safe="/"))
        except ThreadkeeperError as exc:
            return error_page(request, exc)

    return wrapped


def error_page(request: Request, exc: ThreadkeeperError) -> Response:
    problem = exc.problem()
    return page(request, "error.html", status=exc.status, problem=problem, nav="")
