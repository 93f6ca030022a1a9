"""`threadkeeper export` and `threadkeeper import`: threads as JSONL in the API's shapes.

With `-o` the JSONL goes to a file; without, it is the only thing on stdout.
Progress bars and summaries go to stderr. `import` reports what it did with each
line (`--json`: one document with a `lines` list).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import click

from threadkeeper import keys
from threadkeeper.bulk import export
from threadkeeper.bulk import operations as batch
from threadkeeper.bulk.operations import Ref, Report
from threadkeeper.cli import EXIT_USAGE, main
from threadkeeper.cli.common import (
    json_option,
    load_settings,
    parse_refs,
    print_report,
    progress_bar,
    report_exit_code,
    run,
)
from threadkeeper.errors import ThreadkeeperError, ThreadNotFound
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.runtime import Runtime
from threadkeeper.service import ImportOutcome

MAX_SHOWN = 20


@main.command("export")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every thread of every tenant.")
@click.option("--tenant", help="Tenant of bare IDs; without IDs, every thread of this tenant.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSONL here instead of stdout.")  # fmt: skip
def export_command(
    ids: tuple[str, ...], every: bool, tenant: str | None, output: Path | None
) -> None:
    """Write threads as JSONL, each as the API serves it: ID... | --all | --tenant T."""
    if bool(ids) + every + (tenant is not None and not ids) != 1:
        raise click.UsageError("give exactly one of ID... | --all | --tenant T")
    if output is None:
        report = _export(ids, every, tenant, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as out:
            report = _export(ids, every, tenant, out)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    click.echo(f"export: {counts or 'nothing to export'}", err=True)
    for member, reason in report.not_found + report.failed:
        click.echo(f"  {member}: {reason}", err=True)
    sys.exit(report_exit_code(report))


async def _choose(runtime: Runtime, ids: Sequence[str], tenant: str | None) -> list[Ref]:
    if ids:
        return parse_refs(ids, tenant or DEFAULT_TENANT)
    refs = await batch.hot_index_threads(runtime)
    return sorted((r for r in refs if tenant is None or r.tenant == tenant), key=str)


def _export(ids: Sequence[str], every: bool, tenant: str | None, out: IO[str]) -> Report:
    async def work(runtime: Runtime) -> Report:
        refs = await _choose(runtime, ids, tenant)
        report = Report()
        with progress_bar(len(refs), "exporting") as advance:
            for ref in refs:  # in order, so the file lists threads as asked
                try:
                    item = await export.read_portable(runtime, ref.tenant, ref.thread_id)
                except ThreadNotFound as exc:
                    report.missing(ref.member, exc.detail)
                except ThreadkeeperError as exc:
                    report.fail(ref.member, exc.detail)
                else:
                    out.write(export.export_line(item) + "\n")
                    report.add(ref.member, "exported")
                advance(1)
        return report

    return run(load_settings(), work)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def import_command(file: Path, as_json: bool) -> None:
    """Load threads from export's JSONL (or the API's thread answers); reports each line.

    Every line is checked first: one bad line and nothing is imported. Existing ids
    are skipped and reported.
    """
    settings = load_settings()
    with file.open(encoding="utf-8") as lines:
        count, errors = export.check_lines(lines, settings.limits)
    if errors:
        for message in errors[:MAX_SHOWN]:
            click.echo(f"threadkeeper: {file}: {message}", err=True)
        more = f" (and {len(errors) - MAX_SHOWN} more)" if len(errors) > MAX_SHOWN else ""
        click.echo(f"threadkeeper: {len(errors)} bad line(s){more}; nothing imported", err=True)
        sys.exit(EXIT_USAGE)
    done: list[dict[str, object]] = []

    async def work(runtime: Runtime) -> Report:
        report = Report(frozenset({ImportOutcome.TOMBSTONED}))
        with file.open(encoding="utf-8") as again, progress_bar(count, "importing") as advance:
            for line, item in export.parse_lines(again, settings.limits):
                member = keys.thread_keys(item.thread.tenant, item.thread.id).member
                status = await export.import_thread(runtime, item)
                report.add(member, status)
                done.append({"line": line, "thread": member, "status": status})
                advance(1)
        return report

    report = run(settings, work)
    if not as_json:
        for row in done:
            click.echo(f"line {row['line']}: {row['thread']} {row['status']}", err=True)
    print_report(report, as_json, "import", {"lines": done})
