"""`threadkeeper export` and `threadkeeper import`: threads as JSONL.

With `-o` the JSONL goes to a file; without, it is the only thing on stdout.
Progress bars and summaries go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import click

from threadkeeper import export, keys
from threadkeeper.batch import Ref, Report
from threadkeeper.cli import main
from threadkeeper.cli.common import (
    json_option,
    load_settings,
    parse_refs,
    print_report,
    progress_bar,
    run,
    tenant_option,
)
from threadkeeper.errors import ThreadkeeperError
from threadkeeper.models import RehydrateStatus
from threadkeeper.runtime import Runtime


@main.command("export")
@click.argument("ids", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSONL here instead of stdout.")  # fmt: skip
@tenant_option
def export_command(ids: tuple[str, ...], output: Path | None, tenant: str) -> None:
    """Write threads as JSONL (one line per thread, the archive's schema)."""
    refs = parse_refs(ids, tenant)
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
                    item = await export.read_portable(runtime, ref.tenant, ref.thread_id)
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
    """Load threads from an export's JSONL; existing ids are skipped and reported."""
    settings = load_settings()
    with file.open(encoding="utf-8") as lines:
        count, errors = export.check_lines(lines, settings.limits)
    if errors:
        for message in errors[:20]:
            click.echo(f"threadkeeper: {file}: {message}", err=True)
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        click.echo(f"threadkeeper: {len(errors)} bad line(s){more}; nothing imported", err=True)
        sys.exit(2)

    async def work(runtime: Runtime) -> Report:
        report = Report(frozenset({RehydrateStatus.TOMBSTONED}))
        with file.open(encoding="utf-8") as again, progress_bar(count, "importing") as advance:
            for _, item in export.parse_lines(again, settings.limits):
                status = await export.import_thread(runtime, item)
                report.add(keys.thread_keys(item.thread.tenant, item.thread.id).member, status)
                advance(1)
        return report

    report = run(settings, work)
    if report.counts["exists"]:
        click.echo(f"import: {report.counts['exists']} thread(s) already exist: skipped", err=True)
    print_report(report, as_json, "import")
