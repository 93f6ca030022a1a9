"""`threadkeeper worker` and `threadkeeper cron`: one RQ worker, one cron scheduler."""

from __future__ import annotations

import click

from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings
from threadkeeper.jobs import tasks as jobs
from threadkeeper.jobs.cron import Cron, sweep_registration
from threadkeeper.jobs.worker import die_with_this_process, make_worker, through_full_redis
from threadkeeper.store.connection import queue_connection


@main.command()
@click.option("--burst", is_flag=True, help="Run what is queued now, then exit.")
def worker(burst: bool) -> None:
    """Run archive, rehydrate, retention and sweep jobs (an RQ SimpleWorker, JSON jobs)."""
    settings = load_settings()
    connection = queue_connection(settings)
    # The scheduler (a forked child) moves jobs whose Retry interval passed back onto
    # the queue; it must not outlive this process.
    die_with_this_process()
    through_full_redis(
        lambda: make_worker(settings, connection).work(burst=burst, with_scheduler=True), "worker"
    )


@main.command()
@click.option(
    "--config",
    "config_path",
    help="An rq cron config file (e.g. workers/cron_config.py) instead of the built-in sweep.",
)
def cron(config_path: str | None) -> None:
    """Enqueue a sweep every THREADKEEPER_SWEEP_INTERVAL (rq's cron, one job per tick)."""
    settings = load_settings()
    connection = queue_connection(settings)

    def start() -> None:
        scheduler = Cron(connection=connection)
        if config_path:
            scheduler.load_config_from_file(config_path)
        else:
            scheduler.register(jobs.sweep, **sweep_registration(settings))
        scheduler.start()  # type: ignore[no-untyped-call]  # rq leaves it unannotated

    through_full_redis(start, "cron")
