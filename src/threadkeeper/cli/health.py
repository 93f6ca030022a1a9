"""`threadkeeper health [--json] [--acknowledge-loss]`: the restart-survival report;
exit 0 ok, 1 degraded, 2 failing."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings, run
from threadkeeper.health import HealthReport, report
from threadkeeper.models import rfc3339
from threadkeeper.runtime import Runtime
from threadkeeper.store import losses


async def _report(runtime: Runtime) -> HealthReport:
    return await report(runtime.redis, runtime.archive, runtime.settings)


async def _acknowledge(runtime: Runtime) -> HealthReport:
    """Settle every recorded, unsettled data loss, saying which (on stderr), then report."""
    found = await losses.unsettled_losses(runtime.redis)
    if not found:
        click.echo("no data loss to acknowledge: none recorded, or all dealt with", err=True)
    for loss in await losses.settle(runtime.redis, found, losses.ACKNOWLEDGED):
        where = f"the Redis master {loss.master}" if loss.master else "Redis"
        click.echo(
            f"acknowledged: {where} restarted at {rfc3339(loss.lost_at)} without its data; "
            "threads not in the archive then are gone (`threadkeeper recover` was not run "
            "for it)",
            err=True,
        )
    return await _report(runtime)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--acknowledge-loss",
    is_flag=True,
    help="Say that the recorded data loss (Redis restarted without its data) is dealt with "
    "without `threadkeeper recover`: health stops failing for it.",
)
def health(as_json: bool, acknowledge_loss: bool) -> None:
    """Is the data safe? AOF, fsync, eviction, last restart, archive, workers."""
    found = run(load_settings(), _acknowledge if acknowledge_loss else _report)
    body = found.public()
    click.echo(json.dumps(body, indent=2) if as_json else render(body))
    sys.exit(found.exit_code)


def render(body: dict[str, Any]) -> str:
    """The report for a terminal: one line per fact, then the warnings."""
    lines = [f"status: {body['status'].upper()}"]
    for section in ("durability", "restart", "redis", "archive", "workers", "search"):
        lines.append(f"{section}: {_line(body[section])}")
    for child in body["children"]:  # `up`'s worker, cron, API processes
        lines.append(f"child {child['name']}: {_line(child)}")
    for master in body["masters"]:  # a cluster's: each master's own canary
        lines.append(f"master {master['url']}: {master['status']}, {_line(master['restart'])}")
    lines.extend(f"warning: {w}" for w in body["warnings"])
    return "\n".join(lines)


def _line(facts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in facts.items() if v is not None) or "unknown"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
