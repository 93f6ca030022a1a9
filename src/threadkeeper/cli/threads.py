"""`threadkeeper ls` and `threadkeeper show`: look at threads from the command line."""

from __future__ import annotations

import json
from typing import Any

import click

from threadkeeper.bulk.operations import parse_ref
from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings, run
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.runtime import Runtime
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.wire.decode import check_id
from threadkeeper.wire.threads import thread_public

PAGE = 500


async def list_all(
    runtime: Runtime, tenant: str, first: ThreadQuery | None = None
) -> list[dict[str, Any]]:
    """A tenant's threads, newest first, as the API lists them (every page)."""
    rows: list[dict[str, Any]] = []
    page = first or ThreadQuery(limit=PAGE)
    while True:
        listed, cursor = await runtime.service.list(tenant, page)
        rows.extend(thread_public(item.thread, item.state) for item in listed)
        if cursor is None:
            return rows
        page = ThreadQuery.decode(cursor, PAGE)


async def read_all(runtime: Runtime, tenant: str, thread_id: str) -> dict[str, Any]:
    """The whole thread as GET shows it (every turn, oldest first), rehydrating if needed."""
    limit = runtime.settings.limits.max_page
    page = TurnWindow(limit=limit)
    turns: list[dict[str, Any]] = []
    while True:
        view = await runtime.service.read(tenant, thread_id, page)
        turns.extend(view.turns)
        if view.next is None:
            body: dict[str, Any] = {
                "thread": thread_public(view.thread, view.state),
                "turns": turns,
            }
            if view.missing is not None:
                body["missing_turns"] = list(view.missing)
                body["detail"] = view.missing_detail
            return body
        page = TurnWindow.decode(view.next, limit)


@main.command("ls")
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True)
@click.option("--user", "user_id", default=None, help="Only the threads this user owns.")
@click.option(
    "--metadata", "pairs", multiple=True, metavar="KEY=VALUE",
    help="Only threads whose metadata KEY is VALUE (repeatable: all must hold).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help='{"threads": [...]}, as GET /v1/threads.')
def ls_command(tenant: str, user_id: str | None, pairs: tuple[str, ...], as_json: bool) -> None:
    """List a tenant's threads, newest first."""
    if any("=" not in p for p in pairs):
        raise click.BadParameter("write --metadata KEY=VALUE, e.g. project=apollo")
    metadata = tuple((key, value) for key, _, value in (p.partition("=") for p in pairs))
    owner = None if user_id is None else check_id(user_id, "user")
    first = ThreadQuery(PAGE, user_id=owner, metadata=metadata)

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        return await list_all(runtime, tenant, first)

    rows = run(load_settings(), work)
    if as_json:
        click.echo(json.dumps({"threads": rows}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'ID':<24} {'UPDATED':<24} {'TURNS':>6} {'VER':>5} {'STATE':<8} TITLE")
    for row in rows:
        click.echo(
            f"{row['id']:<24} {row['updated_at']:<24} {row['turn_count']:>6} "
            f"{row['version']:>5} {row['state']:<8} {row['title'] or ''}"
        )
    click.echo(f"{len(rows)} thread(s) of tenant {tenant}", err=True)


@main.command("show")
@click.argument("thread_id")
@click.option("--tenant", default=DEFAULT_TENANT, show_default=True, help="Tenant of a bare ID.")
@click.option(
    "--json", "as_json", is_flag=True, help="The thread as GET /v1/threads/{id} shows it."
)
def show_command(thread_id: str, tenant: str, as_json: bool) -> None:
    """Show one thread and all its turns (ID or TENANT:ID)."""
    ref = parse_ref(thread_id, tenant)

    async def work(runtime: Runtime) -> dict[str, Any]:
        return await read_all(runtime, ref.tenant, ref.thread_id)

    body = run(load_settings(), work)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    _print_thread(body)


def _print_thread(body: dict[str, Any]) -> None:
    t = body["thread"]
    click.echo(f"thread   {t['tenant']}:{t['id']}  ({t['state']})")
    for label, name in (("title", "title"), ("tool", "tool"), ("created", "created_at"),
                        ("updated", "updated_at"), ("parent", "parent_id")):  # fmt: skip
        if t[name]:
            click.echo(f"{label:<8} {t[name]}")
    archived = f", archived v{t['archived_version']}" if t["archived_version"] else ""
    click.echo(f"version  {t['version']}{archived}; {t['turn_count']} turn(s), {t['bytes']} bytes")
    if body.get("missing_turns"):
        click.echo(f"MISSING  {body['detail']}", err=True)
    for turn in body["turns"]:
        who = turn["role"] + (f" ({turn['model']})" if turn.get("model") else "")
        click.echo(f"\n#{turn['seq']} {who} at {turn['created_at']}")
        click.echo(turn["content"])
