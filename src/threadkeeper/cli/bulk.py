"""Bulk commands: `archive`, `rehydrate`, `recover`, `export`, `import`.

Progress bars and summaries go to stderr; with `--json` the report (or, for
`export`, the JSONL) is the only thing on stdout, so it can be piped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from threadkeeper import bulk, recovery, transfer
from threadkeeper.bulk import Progress, Ref, Report
from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings, run
from threadkeeper.errors import ThreadkeeperError
from threadkeeper.models import DEFAULT_TENANT, now_ms
from threadkeeper.queue import digest, enqueue, make_queue
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Settings

tenant_option = click.option(
    "--tenant", default=DEFAULT_TENANT, show_default=True, help="Tenant of bare IDs."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@contextmanager
def progress_bar(length: int, label: str) -> Iterator[Progress]:
    """A click progress bar on stderr, as the callback the bulk functions take."""
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update


def _refs(ids: Sequence[str], tenant: str) -> list[Ref]:
    return [bulk.parse_ref(text, tenant) for text in ids]


def _one_selector(ids: Sequence[str], **flags: bool) -> None:
    chosen = [f"--{name}" for name, on in flags.items() if on]
    if len(chosen) + bool(ids) != 1:
        names = " | ".join(["ID...", *(f"--{name}" for name in flags)])
        raise click.UsageError(f"give exactly one of {names}")


def _finish(report: Report, as_json: bool, what: str) -> None:
    """Print the report; exit 1 if any thread failed or ended in a problem status."""
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
        click.echo(f"{what}: {counts or 'nothing to do'}")
        for member, status in report.flagged:
            click.echo(f"  {member}: {status}", err=True)
        for member, reason in report.failed:
            click.echo(f"  {member}: FAILED: {reason}", err=True)
    if not report.ok:
        sys.exit(1)


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
        bulk.require_archive(runtime, "archive")
        if ids:
            return _refs(ids, tenant)
        return await bulk.dirty_threads(runtime, idle_only=cold)

    if not wait:
        _archive_queued(choose, as_json)
        return
    _finish(_run_bulk(choose, bulk.archive_all, "archiving"), as_json, "archive")


def _archive_queued(choose: Callable[[Runtime], Awaitable[list[Ref]]], as_json: bool) -> None:
    settings = load_settings()
    refs = run(settings, choose)
    queued = _queue_archive(settings, refs) if refs else 0
    if as_json:
        click.echo(json.dumps({"queued_jobs": queued, "threads": len(refs)}))
    else:
        click.echo(f"queued {queued} archive job(s) for {len(refs)} thread(s)")
    click.echo("a worker (`threadkeeper worker`) runs them; --wait archives here instead", err=True)


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
        bulk.require_archive(runtime, "rehydrate")
        return _refs(ids, tenant) if ids else await bulk.hot_index_threads(runtime)

    _finish(_run_bulk(choose, bulk.rehydrate_all, "rehydrating"), as_json, "rehydrate")


# -- recover --------------------------------------------------------------------------


@main.command("recover")
@json_option
def recover_command(as_json: bool) -> None:
    """Rebuild Redis from the archive alone (after total loss); safe to run again."""

    async def work(runtime: Runtime) -> Report:
        total = await recovery.count_archived(runtime)
        with progress_bar(total, "recovering") as advance:
            return await recovery.recover(runtime, advance)

    _finish(run(load_settings(), work), as_json, "recover")


# -- export / import ------------------------------------------------------------------


@main.command("export")
@click.argument("ids", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSONL here instead of stdout.")  # fmt: skip
@tenant_option
def export_command(ids: tuple[str, ...], output: Path | None, tenant: str) -> None:
    """Write threads as JSONL (one line per thread, the archive's schema)."""
    refs = _refs(ids, tenant)
    if output is None:
        report = _export(refs, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as out:
            report = _export(refs, out)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    click.echo(f"export: {counts}", err=True)
    for member, reason in report.failed:
        click.echo(f"  {member}: FAILED: {reason}", err=True)
    if not report.ok:
        sys.exit(1)


def _export(refs: Sequence[Ref], out: IO[str]) -> Report:
    async def work(runtime: Runtime) -> Report:
        report = Report()
        with progress_bar(len(refs), "exporting") as advance:
            for ref in refs:  # in order, so the file lists threads as asked
                try:
                    item = await transfer.read_portable(runtime, ref.tenant, ref.thread_id)
                except ThreadkeeperError as exc:
                    report.fail(ref.member, exc.detail)
                else:
                    out.write(transfer.export_line(item) + "\n")
                    report.add(ref.member, "exported")
                advance(1)
        return report

    return run(load_settings(), work)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def import_command(file: Path, as_json: bool) -> None:
    """Load threads from an export's JSONL; existing ids are skipped and reported."""
    settings = load_settings()
    with file.open(encoding="utf-8") as lines:
        count, errors = transfer.check_lines(lines, settings.limits)
    if errors:
        for message in errors[:20]:
            click.echo(f"threadkeeper: {file}: {message}", err=True)
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        click.echo(f"threadkeeper: {len(errors)} bad line(s){more}; nothing imported", err=True)
        sys.exit(2)

    async def work(runtime: Runtime) -> Report:
        report = Report(frozenset({"tombstoned"}))
        with file.open(encoding="utf-8") as again, progress_bar(count, "importing") as advance:
            for _, item in transfer.parse_lines(again, settings.limits):
                status = await transfer.import_thread(runtime, item)
                report.add(f"{item.thread.tenant}:{item.thread.id}", status)
                advance(1)
        return report

    report = run(settings, work)
    if report.counts["exists"]:
        click.echo(f"import: {report.counts['exists']} thread(s) already exist: skipped", err=True)
    _finish(report, as_json, "import")
