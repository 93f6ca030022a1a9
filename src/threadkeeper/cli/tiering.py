"""Tiering commands: `archive`, `rehydrate`, `recover`, over many threads at once.

Progress bars and summaries go to stderr; with `--json` the report is the only
thing on stdout, so it can be piped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence

import click

from threadkeeper.bulk import operations as batch
from threadkeeper.bulk import recovery
from threadkeeper.bulk.operations import Progress, Ref, Report
from threadkeeper.cli import EXIT_NOT_FOUND, main
from threadkeeper.cli.common import (
    json_option,
    load_settings,
    parse_refs,
    print_report,
    progress_bar,
    run,
    tenant_option,
)
from threadkeeper.jobs.queue import digest, enqueue, make_queue
from threadkeeper.models import now_ms
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Settings


def _one_selector(ids: Sequence[str], **flags: bool) -> None:
    chosen = [f"--{name}" for name, on in flags.items() if on]
    if len(chosen) + bool(ids) != 1:
        names = " | ".join(["ID...", *(f"--{name}" for name in flags)])
        raise click.UsageError(f"give exactly one of {names}")


def _run_bulk(
    choose: Callable[[Runtime], Awaitable[list[Ref]]],
    step: Callable[[Runtime, Sequence[Ref], Progress | None], Awaitable[Report]],
    label: str,
) -> Report:
    async def work(runtime: Runtime) -> Report:
        refs = await choose(runtime)
        with progress_bar(len(refs), label) as advance:
            return await step(runtime, refs, advance)

    return run(load_settings(), work)


# -- archive ------------------------------------------------------------------------


def _queue_archive(settings: Settings, refs: Sequence[Ref]) -> int:
    """Hand the threads to the workers in batches (as the sweeper does); jobs queued."""
    queue = make_queue(settings)
    stamp = f"archive-now-{now_ms()}"
    members = [ref.member for ref in refs]
    size = settings.sweep_batch
    try:
        batches = [members[i : i + size] for i in range(0, len(members), size)]
        return sum(
            enqueue(queue, "archive_batch", [batch], f"{stamp}-{digest(*batch)}", settings)
            for batch in batches
        )
    finally:
        queue.connection.close()


@main.command("archive")
@click.argument("ids", nargs=-1)
@click.option("--cold", is_flag=True, help="Dirty threads idle past THREADKEEPER_SNAPSHOT_IDLE.")
@click.option("--all", "every", is_flag=True, help="Every dirty thread.")
@click.option("--wait", is_flag=True, help="Snapshot now, in this process, and report.")
@tenant_option
@json_option
def archive_command(
    ids: tuple[str, ...], cold: bool, every: bool, wait: bool, tenant: str, as_json: bool
) -> None:
    """Snapshot threads to the archive now: ID... | --cold | --all."""
    _one_selector(ids, cold=cold, all=every)

    async def choose(runtime: Runtime) -> list[Ref]:
        batch.require_archive(runtime, "archive")
        if ids:
            return parse_refs(ids, tenant)
        return await batch.dirty_threads(runtime, idle_only=cold)

    if not wait:
        _archive_queued(choose, as_json)
        return
    print_report(_run_bulk(choose, batch.archive_all, "archiving"), as_json, "archive")


def _archive_queued(choose: Callable[[Runtime], Awaitable[list[Ref]]], as_json: bool) -> None:
    """Queue archive jobs for the chosen threads; a thread named that does not exist is
    reported (exit 3), not queued."""
    settings = load_settings()

    async def existing(runtime: Runtime) -> tuple[list[Ref], list[Ref]]:
        refs = await choose(runtime)
        found = [await runtime.store.get(r.tenant, r.thread_id) is not None for r in refs]
        return [r for r, ok in zip(refs, found, strict=True) if ok], [
            r for r, ok in zip(refs, found, strict=True) if not ok
        ]

    refs, absent = run(settings, existing)
    queued = _queue_archive(settings, refs) if refs else 0
    if as_json:
        body = {"queued_jobs": queued, "threads": len(refs),
                "not_found": [r.member for r in absent]}  # fmt: skip
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(f"queued {queued} archive job(s) for {len(refs)} thread(s)")
        for ref in absent:
            click.echo(f"  {ref.member}: NOT FOUND: no such thread", err=True)
    click.echo("a worker (`threadkeeper worker`) runs them; --wait archives here instead", err=True)
    if absent:
        sys.exit(EXIT_NOT_FOUND)


# -- rehydrate ------------------------------------------------------------------------


@main.command("rehydrate")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every thread Redis knows of.")
@tenant_option
@json_option
def rehydrate_command(ids: tuple[str, ...], every: bool, tenant: str, as_json: bool) -> None:
    """Bring threads' turns back from the archive into Redis: ID... | --all."""
    _one_selector(ids, all=every)

    async def choose(runtime: Runtime) -> list[Ref]:
        batch.require_archive(runtime, "rehydrate")
        return parse_refs(ids, tenant) if ids else await batch.hot_index_threads(runtime)

    print_report(_run_bulk(choose, batch.rehydrate_all, "rehydrating"), as_json, "rehydrate")


# -- recover --------------------------------------------------------------------------


@main.command("recover")
@json_option
def recover_command(as_json: bool) -> None:
    """Rebuild Redis from the archive alone (after total loss); safe to run again."""

    async def work(runtime: Runtime) -> Report:
        total = await recovery.count_archived(runtime)
        with progress_bar(total, "recovering") as advance:
            return await recovery.recover(runtime, advance)

    print_report(run(load_settings(), work), as_json, "recover")
