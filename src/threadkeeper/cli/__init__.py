"""The `threadkeeper` console script: one command, a subcommand per job."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from threadkeeper.errors import ThreadkeeperError

# Each module registers its commands on `main` when imported.
COMMAND_MODULES = ("daemon", "threads", "tokens", "workers", "tiering", "export", "health")


class Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ThreadkeeperError as exc:
            click.echo(f"threadkeeper: {exc.title}: {exc.detail}", err=True)
            sys.exit(2)


@click.group(cls=Main)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Keep chat threads across restarts, crashes and months of silence."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"threadkeeper.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"threadkeeper.cli.{_name}":
            raise
