"""Long-running commands: `up` (everything) and `serve` (the API alone)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings
from threadkeeper.settings import PREFIX, Settings
from threadkeeper.tokens import check_bind


@main.command()
@click.option("--home", type=click.Path(path_type=Path), help="Data dir (THREADKEEPER_HOME).")
@click.option("--port", type=int, help="API port (THREADKEEPER_PORT).")
def up(home: Path | None, port: int | None) -> None:
    """Start everything: Redis (unless THREADKEEPER_REDIS_URL), worker, cron and the API."""
    settings = Settings.from_env()
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = home
    if port is not None:
        overrides["port"] = port
    from threadkeeper.supervisor import run_up  # uvicorn and the API: only for `up`

    run_up(settings.with_overrides(**overrides))


@main.command()
@click.option("--port", type=int, help="API port (THREADKEEPER_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="API processes sharing the port (uvicorn's workers); see BENCHMARKS.md before raising.",
)
def serve(port: int | None, workers: int) -> None:
    """Serve the HTTP API only (Redis and the archive are configured by environment)."""
    settings = load_settings()
    if port is not None:
        settings = settings.with_overrides(port=port)
    check_bind(settings.host, settings.tokens_file is not None)
    import uvicorn  # only for the serving commands: every other command starts faster

    from threadkeeper.api import create_app

    try:
        if workers == 1:
            app = create_app(settings)
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
        else:
            # Each worker process builds its app from the environment: hand it what
            # load_settings found (the Redis and archive of a running `up`).
            os.environ.update(serving_env(settings))
            uvicorn.run("threadkeeper.api:app_from_env", factory=True, workers=workers,
                        host=settings.host, port=settings.port, log_level="info")  # fmt: skip
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its clean shutdown


def serving_env(settings: Settings) -> dict[str, str]:
    """The variables that make Settings.from_env() in a worker process find these stores."""
    found = {"REDIS_URL": settings.redis_url, "ARCHIVE_URL": settings.archive_url,
             "HOME": str(settings.home)}  # fmt: skip
    return {PREFIX + name: value for name, value in found.items() if value is not None}
