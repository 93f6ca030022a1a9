"""Bearer tokens mapped to tenants, stored hashed in the tokens file.

The tokens file is THREADKEEPER_TOKENS_FILE, else `<home>/tokens.json`: the file
`threadkeeper tokens add` writes is the one the daemon reads. Auth is on when the
variable names a file, or when the home's file exists (it then stays on even with
no token left in it: every request gets 401 until one is added).

The file is JSON: {"tokens": [{"id", "tenant", "sha256", "created_at", "user"}]}: a
token with a `user` acts as that user inside its tenant (it sees only the threads that
user owns), one without (older files too) acts for the whole tenant. Only the
SHA-256 of a token is kept; a presented token is hashed and compared with every
entry in constant time. The daemon re-reads the file when it changes, so
`threadkeeper tokens add|revoke` takes effect without a restart. A file that does
not read (a bad hand edit) changes nothing: the daemon keeps the tokens it last
read, logs the file's problem and health reports it; with none ever read it
refuses every request with a 503 that names no path (the log and health do).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from threadkeeper.errors import AuthUnavailable, ConfigError, Forbidden, Unauthorized
from threadkeeper.models import Caller
from threadkeeper.settings import Settings
from threadkeeper.wire.decode import check_id

TOKEN_PREFIX = "tk_"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenEntry:
    id: str
    tenant: str
    sha256: str
    created_at: str
    user: str | None = None  # None: the whole tenant


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_entries(path: Path) -> list[TokenEntry]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        return [TokenEntry(**row) for row in data["tokens"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} (THREADKEEPER_TOKENS_FILE, else <home>/tokens.json) is not a tokens file "
            f"({exc}): "
            "manage it with `threadkeeper tokens add|list|revoke`"
        ) from exc


def save_entries(path: Path, entries: list[TokenEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"tokens": [asdict(e) for e in entries]}, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def add_token(path: Path, tenant: str, user: str | None = None) -> tuple[TokenEntry, str]:
    """Create a token for `tenant` (for one `user` in it, if given); returns the entry and
    the token (shown once)."""
    check_id(tenant, "tenant")
    if user is not None:
        check_id(user, "user")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = TokenEntry(
        id=secrets.token_hex(4),
        tenant=tenant,
        sha256=_digest(token),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        user=user,
    )
    save_entries(path, [*load_entries(path), entry])
    return entry, token


def revoke_token(path: Path, token_id: str) -> bool:
    entries = load_entries(path)
    kept = [e for e in entries if e.id != token_id]
    save_entries(path, kept)
    return len(kept) != len(entries)


class TokenAuth:
    """Maps an Authorization header to a tenant; while auth is off, to the default tenant.

    `required`: the file was named explicitly, so auth is on even before it exists.
    Otherwise auth turns on the moment the file appears (`tokens add`), never off.
    """

    RELOAD_EVERY = 1.0

    def __init__(self, path: Path, default_tenant: str, *, required: bool = True) -> None:
        self.path = path
        self.default_tenant = default_tenant
        self.required = required
        self._entries: list[TokenEntry] | None = None  # None: no file has read yet
        self.problem: str | None = None  # why the file did not read, for the log and health
        self._mtime = -1.0
        self._checked = 0.0
        self._seen = False
        self._reload()

    @classmethod
    def from_settings(cls, settings: Settings, default_tenant: str) -> TokenAuth:
        return cls(settings.tokens_path, default_tenant, required=settings.tokens_file is not None)

    @property
    def enabled(self) -> bool:
        return self.required or self._seen

    @property
    def count(self) -> int:
        return len(self._entries or ())

    def _reload(self) -> None:
        exists = self.path.exists()
        self._seen = self._seen or exists
        mtime = self.path.stat().st_mtime if exists else 0.0
        if mtime != self._mtime:
            self._mtime = mtime
            self._read()
        self._checked = time.monotonic()

    def _read(self) -> None:
        """The file's tokens; if it does not read, the last good ones stay (and it is said)."""
        try:
            self._entries = load_entries(self.path)
        except ConfigError as exc:
            self.problem = exc.detail
            kept = (
                f"serving with the {len(self._entries)} token(s) read before"
                if self._entries is not None
                else "no tokens were ever read: every request is refused (503)"
            )
            log.error("%s; %s until it reads", exc.detail, kept)
            return
        if self.problem is not None:
            log.info("tokens file %s reads again: %d token(s)", self.path, len(self._entries))
        self.problem = None

    def tenant_for(self, authorization: str | None) -> str:
        """The tenant of a tenant-wide token; a user token is refused (403).

        For a surface that has not learned about users yet: it then fails closed instead
        of showing a user every thread of the tenant. Use `caller_for`.
        """
        caller = self.caller_for(authorization)
        if not caller.tenant_wide:
            raise Forbidden(
                f"this token acts as user {caller.user_id!r} and this surface serves "
                "tenant-wide tokens only: use a token made without --user",
                user_id=caller.user_id,
            )
        return caller.tenant

    def caller_for(self, authorization: str | None) -> Caller:
        """Who presents this Authorization header: a tenant, and maybe one user in it."""
        if time.monotonic() - self._checked > self.RELOAD_EVERY:
            self._reload()
        if not self.enabled:
            return Caller(self.default_tenant)
        if self._entries is None:
            # The file's path and problem are the operator's (log, health), not a client's.
            raise AuthUnavailable(
                "authentication is unavailable: this server cannot read its list of tokens. "
                "Its operator is told in the log and in `threadkeeper health`; retry later"
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "send `Authorization: Bearer <token>`; create a token with "
                "`threadkeeper tokens add --tenant NAME`"
            )
        return self._match(_digest(token.strip()))

    def _match(self, digest: str) -> Caller:
        caller = None
        for entry in self._entries or ():  # every entry compared: no early exit to time
            if hmac.compare_digest(entry.sha256, digest):
                caller = Caller(entry.tenant, entry.user)
        if caller is None:
            raise Unauthorized("this bearer token is unknown or revoked")
        return caller


def is_loopback(host: str) -> bool:
    """By address, not by prefix: `127.evil.example` is a name, resolved by DNS."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tokens_problem(settings: Settings) -> str | None:
    """Why the tokens file does not read, if it does not (for health)."""
    try:
        load_entries(settings.tokens_path)
    except ConfigError as exc:
        return exc.detail
    return None


def auth_summary(settings: Settings) -> str:
    """One line for start-up: is auth on, from which file, with how many tokens."""
    path = settings.tokens_path
    if not settings.auth_configured:
        return (
            f"auth: off (no tokens file at {path}): every request acts as tenant 'default'; "
            "`threadkeeper tokens add --tenant NAME` turns it on"
        )
    try:
        count = len(load_entries(path))
    except ConfigError as exc:
        return f"auth: on, but {exc.detail}: every request is refused (503) until it reads"
    none_yet = ": every request gets 401 until `threadkeeper tokens add`" if not count else ""
    return f"auth: on, {count} token(s) in {path}{none_yet}"


def check_bind(host: str, auth_enabled: bool) -> None:
    """Without tokens, the daemon serves one tenant and only on loopback."""
    if auth_enabled:
        return
    if not is_loopback(host):
        raise ConfigError(
            f"THREADKEEPER_HOST={host} is not loopback and auth is off: anyone on the network "
            "could read every thread. Create tokens (`threadkeeper tokens add --tenant NAME`, "
            "into the home's tokens.json or THREADKEEPER_TOKENS_FILE), or bind to 127.0.0.1"
        )
