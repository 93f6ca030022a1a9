"""`threadkeeper tokens add|list|revoke`: the bearer tokens that map to tenants.

The file is THREADKEEPER_TOKENS_FILE, else `<home>/tokens.json`: the same file
`up` and `serve` read. A running daemon re-reads it on change (auth turns on
when it appears), so no restart is needed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from threadkeeper.auth import add_token, load_entries, revoke_token
from threadkeeper.cli import EXIT_NOT_FOUND, main
from threadkeeper.cli.common import base_settings


def tokens_path() -> Path:
    return base_settings().tokens_path


@main.group("tokens")
def tokens_group() -> None:
    """Manage bearer tokens (THREADKEEPER_TOKENS_FILE, else <home>/tokens.json)."""


@tokens_group.command("add")
@click.option("--tenant", required=True, help="The tenant this token acts as.")
@click.option(
    "--user", default=None,
    help="Act as this user inside the tenant: see and create only its threads.",
)  # fmt: skip
def add_command(tenant: str, user: str | None) -> None:
    """Create a token; it is printed once, on stdout, and only its hash is kept."""
    path = tokens_path()
    entry, token = add_token(path, tenant, user)
    click.echo(token)
    who = (
        f"user {entry.user!r} of tenant {entry.tenant!r}"
        if entry.user
        else (f"tenant {entry.tenant!r}")
    )
    click.echo(
        f"token {entry.id} for {who} added to {path}; auth is on for the "
        "daemon of this home (it reads this file). The token is shown only this once: "
        f"store it now (revoke with `threadkeeper tokens revoke {entry.id}`)",
        err=True,
    )


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help='{"tokens": [...]}, without hashes.')
def list_command(as_json: bool) -> None:
    """List tokens: id, tenant, user, created (never the tokens themselves)."""
    entries = load_entries(tokens_path())
    if as_json:
        rows = [{k: v for k, v in asdict(e).items() if k != "sha256"} for e in entries]
        click.echo(json.dumps({"tokens": rows}, indent=2))
        return
    for entry in entries:
        user = f"  user {entry.user}" if entry.user else ""
        click.echo(f"{entry.id}  {entry.tenant:<24} {entry.created_at}{user}")
    if not entries:
        click.echo(f"no tokens in {tokens_path()}", err=True)


@tokens_group.command("revoke")
@click.argument("token_id")
def revoke_command(token_id: str) -> None:
    """Revoke a token by its id (see `tokens list`)."""
    path = tokens_path()
    if not revoke_token(path, token_id):
        click.echo(f"threadkeeper: no token with id {token_id!r} in {path}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    click.echo(f"revoked token {token_id}")
