"""Who is using the console, and proof that a POST came from the console's own pages.

With tokens configured, the console asks for a token once and keeps it in an
HttpOnly, SameSite=Strict cookie; every request maps it to a tenant through the
same TokenAuth as the API. State-changing requests are POSTs carrying a CSRF
value that must equal the one in a second SameSite=Strict cookie (double submit),
and an Origin header, when the browser sends one, must be this server's own.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from threadkeeper.auth import TokenAuth
from threadkeeper.errors import CrossSiteRequest, InvalidInput, LimitExceeded, Unauthorized
from threadkeeper.models import Caller
from threadkeeper.wire.decode import check_id

TOKEN_COOKIE = "tk_console"
CSRF_COOKIE = "tk_csrf"
CSRF_FIELD = "csrf"
COOKIE_PATH = "/ui"
MAX_FORM_BYTES = 64 * 1024  # the console's forms hold a token, a seq and a CSRF value
TOKEN_MAX_AGE = 7 * 24 * 3600


class LoginNeeded(Exception):
    """Tokens are configured and this browser has not given one (or it was revoked)."""


def _auth(request: Request) -> TokenAuth:
    return request.app.state.auth  # type: ignore[no-any-return]


def caller(request: Request) -> Caller:
    """Who this browser is: its token cookie's tenant (and user), or the only tenant
    without tokens."""
    token = request.cookies.get(TOKEN_COOKIE)
    try:  # TokenAuth decides whether tokens are on, exactly as for the API
        return _auth(request).caller_for(f"Bearer {token}" if token else None)
    except Unauthorized:
        raise LoginNeeded from None


async def visible_thread(request: Request) -> tuple[str, str]:
    """(tenant, id) of the thread the path names, once this browser may see it (as the
    API's routes: ThreadService.access)."""
    who = caller(request)
    thread_id = check_id(request.path_params["thread_id"])
    await request.app.state.service.access.check(who, thread_id)
    return who.tenant, thread_id


def login_enabled(request: Request) -> bool:
    return _auth(request).enabled


def logged_in(request: Request) -> bool:
    """True when tokens are configured and this browser has given one."""
    return login_enabled(request) and bool(request.cookies.get(TOKEN_COOKIE))


def check_token(request: Request, token: str) -> Caller:
    """Who a token typed into the login form acts as (Unauthorized if unknown)."""
    return _auth(request).caller_for(f"Bearer {token.strip()}")


def csrf_value(request: Request) -> str:
    """The value this page's forms carry: the browser's CSRF cookie, or a new one."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) <= 64:
        return existing
    value: str | None = request.scope.get("threadkeeper.csrf")
    if value is None:
        value = secrets.token_urlsafe(24)
        request.scope["threadkeeper.csrf"] = value
    return value


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this page made a new value."""
    value = request.scope.get("threadkeeper.csrf")
    if value is not None:
        _set_cookie(request, response, CSRF_COOKIE, value, max_age=None)


def remember_token(request: Request, response: Response, token: str) -> None:
    _set_cookie(request, response, TOKEN_COOKIE, token.strip(), max_age=TOKEN_MAX_AGE)


def forget_token(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip


async def checked_form(request: Request) -> dict[str, str]:
    """A POSTed console form, refused unless it came from this console's own page."""
    _check_origin(request)
    form = await _read_form(request)
    sent, expected = form.get(CSRF_FIELD, ""), request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CrossSiteRequest(
            "this form did not come from a console page of this server (its CSRF value is "
            "missing or stale): reload the page and try again"
        )
    return form


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:  # an older browser, or curl: the CSRF value still decides
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin != own:
        raise CrossSiteRequest(
            f"a form posted from {origin} was refused: the console takes actions only from "
            f"its own pages ({own}/ui)"
        )


async def _read_form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise LimitExceeded(f"a console form is at most {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode(), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form is not URL-encoded text: submit it from the page") from None
    return {name: values[-1] for name, values in fields.items()}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a console path only, never another site."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/threads"
