"""Which `Host` names the app answers: the defence against DNS rebinding.

With auth off (no tokens: one tenant, loopback only), anything that reaches the
port is served. A web page the user visits can rebind its own name to 127.0.0.1
and then read and delete every thread with the browser's requests, whose `Host`
(and `Origin`) are the page's name. So with auth off only loopback names are served
(localhost, a loopback address such as 127.0.0.1 or [::1], any port), plus
THREADKEEPER_ALLOWED_HOSTS; with auth on, a token guards every request and
THREADKEEPER_ALLOWED_HOSTS, when set, limits the names beyond loopback too.

This is Starlette's TrustedHostMiddleware rule (exact names, `*.example.com`
wildcards), applied at the app's edge so every route (the API, the console, any
mount) is behind it. It is its own middleware because the list depends on whether
auth is on, which `threadkeeper tokens add` changes while the daemon runs, and
because a refusal is problem+json that says what to do, not plain "Invalid host".
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from threadkeeper.auth import is_loopback
from threadkeeper.errors import InvalidInput
from threadkeeper.web import problem_response

SETTING = "THREADKEEPER_ALLOWED_HOSTS"


def host_name(header: str | None) -> str | None:
    """The name of a `Host` header without its port, lowercased; None if it is not one."""
    if not header:
        return None
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname or None


def allowed(name: str, patterns: Sequence[str]) -> bool:
    """TrustedHostMiddleware's rule: an exact name, `*.example.com`, or `*` for any."""
    return any(
        p == "*" or name == p or (p.startswith("*.") and name.endswith(p[1:])) for p in patterns
    )


def served(name: str, auth_enabled: bool, configured: Sequence[str]) -> bool:
    # A loopback address (or localhost), not a name that resolves to one: only DNS can
    # rebind a name, so these are always served, for the tools on this machine.
    if is_loopback(name):
        return True
    return allowed(name, configured or ("*",) if auth_enabled else configured)


def refusal(header: str | None, auth_enabled: bool) -> InvalidInput:
    why = (
        "this daemon serves only loopback names and those in THREADKEEPER_ALLOWED_HOSTS"
        if auth_enabled
        else "with auth off this daemon serves only loopback names (localhost, 127.0.0.1 "
        "or another loopback address, [::1]), so that no web page can reach it by "
        "rebinding its own DNS name to 127.0.0.1"
    )
    return InvalidInput(
        f"Host {(header or '')[:100]!r} is not served: {why}. Connect by one of those "
        f"names, add this one to {SETTING}, or turn auth on "
        "(`threadkeeper tokens add --tenant NAME`)",
        field="Host",
        setting=SETTING,
    )


class HostGuard:
    """Refuse a request whose `Host` is not one this app serves (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        enabled: bool = state.auth.enabled
        header = _header(scope, b"host")
        name = host_name(header)
        if name is not None and served(name, enabled, state.settings.allowed_hosts):
            await self.app(scope, receive, send)
            return
        await problem_response(refusal(header, enabled))(scope, receive, send)


def _header(scope: Scope, wanted: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == wanted:
            return bytes(value).decode("latin-1")
    return None
