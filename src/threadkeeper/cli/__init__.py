"""The `threadkeeper` console script: one command, a subcommand per job.

Every command takes `--home` (added here to each one), and every command exits
with one of the codes below (README: Commands, "Exit codes").
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from threadkeeper import __version__, lifeline
from threadkeeper.errors import (
    ArchiveObjectMissing,
    ArchiveUnavailable,
    NotRunning,
    StoreUnavailable,
    ThreadkeeperError,
    ThreadNotFound,
)
from threadkeeper.settings import LOG_FORMAT

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran, and some of its work failed or found a problem
EXIT_USAGE = 2  # bad arguments, bad input, bad configuration (click uses 2 too)
EXIT_NOT_FOUND = 3  # a thread (or token) named on the command line does not exist
EXIT_NOT_RUNNING = 4  # threadkeeper (or its Redis / archive) is not running or not reachable

HOME_KEY = "threadkeeper.home"  # where --home is kept in the click context

# Each module registers its commands on `main` when imported.
COMMAND_MODULES = (
    "daemon", "threads", "tokens", "workers", "tiering", "export", "health", "mcp", "search",
)  # fmt: skip


def exit_code(exc: ThreadkeeperError) -> int:
    if isinstance(exc, ThreadNotFound | ArchiveObjectMissing):
        return EXIT_NOT_FOUND
    if isinstance(exc, NotRunning | StoreUnavailable | ArchiveUnavailable):
        return EXIT_NOT_RUNNING
    return EXIT_USAGE


class Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ThreadkeeperError as exc:
            click.echo(f"threadkeeper: {exc.title}: {exc.detail}", err=True)
            sys.exit(exit_code(exc))


def _remember_home(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[HOME_KEY] = value


def home_option() -> click.Option:
    return click.Option(
        ["--home"],
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_remember_home,
        help="The data dir `up` runs in (THREADKEEPER_HOME; default ./.threadkeeper).",
    )


def add_home_option(command: click.Command) -> None:
    """Give `command` (and every subcommand of a group) the --home option."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_home_option(sub)
    if not any(param.name == "home" for param in command.params):
        command.params.append(home_option())


@click.group(cls=Main)
@click.version_option(__version__, prog_name="threadkeeper")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Keep chat threads across restarts, crashes and months of silence."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    lifeline.watch_from_env()  # a child of `up` stops when `up` is gone, however it went


for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"threadkeeper.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"threadkeeper.cli.{_name}":
            raise
add_home_option(main)
