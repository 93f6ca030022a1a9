"""What every command shares: settings with `up`'s Redis found, an async runner, options."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import click

from threadkeeper.bulk import operations as batch
from threadkeeper.bulk.operations import Progress, Ref, Report
from threadkeeper.cli import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, HOME_KEY
from threadkeeper.home import require_running
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings

T = TypeVar("T")


def base_settings() -> Settings:
    """Settings from the environment, with the command line's --home."""
    settings = Settings.from_env()
    ctx = click.get_current_context(silent=True)
    home = ctx.meta.get(HOME_KEY) if ctx is not None else None
    return settings if home is None else settings.with_overrides(home=home)


def load_settings() -> Settings:
    """Settings for a command that needs Redis: THREADKEEPER_REDIS_URL, else the running `up`'s
    (its hot store, archive and RQ's Redis).

    Without the variable and with no `up` running for the home, this says so
    (NotRunning) instead of failing later on an unreachable Redis.
    """
    settings = base_settings()
    if settings.redis_url is None:
        info = require_running(settings.home)
        archive = settings.archive_url if settings.archive_url is not None else info.archive_url
        queue = settings.queue_redis_url or info.queue_url
        settings = settings.with_overrides(
            redis_url=info.redis_url, archive_url=archive, queue_redis_url=queue
        )
    return settings


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


def run(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        async with opened(settings) as runtime:
            return await work(runtime)

    return asyncio.run(main())


tenant_option = click.option(
    "--tenant", default=DEFAULT_TENANT, show_default=True, help="Tenant of bare IDs."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@contextmanager
def progress_bar(length: int, label: str) -> Iterator[Progress]:
    """A click progress bar on stderr, as the callback the bulk functions take."""
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update


def parse_refs(ids: Sequence[str], tenant: str) -> list[Ref]:
    return [batch.parse_ref(text, tenant) for text in ids]


def report_exit_code(report: Report) -> int:
    """1 if a thread failed or ended in a problem status, else 3 if one was not found."""
    if report.failed or report.flagged:
        return EXIT_FAILED
    return EXIT_NOT_FOUND if report.not_found else EXIT_OK


def print_report(
    report: Report, as_json: bool, what: str, extra: dict[str, Any] | None = None
) -> None:
    """Print the report (on stdout; details on stderr) and exit with its code."""
    if as_json:
        click.echo(json.dumps(report.as_dict() | (extra or {}), indent=2))
    else:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
        click.echo(f"{what}: {counts or 'nothing to do'}")
        for member, status in report.flagged:
            click.echo(f"  {member}: {status}", err=True)
        for member, reason in report.not_found:
            click.echo(f"  {member}: {reason} (not found)", err=True)
        for member, reason in report.failed:
            click.echo(f"  {member}: FAILED: {reason}", err=True)
    sys.exit(report_exit_code(report))
