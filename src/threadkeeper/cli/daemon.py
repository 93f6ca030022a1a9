"""Long-running commands: `up` (everything) and `serve` (the API alone)."""

from __future__ import annotations

from pathlib import Path

import click

from threadkeeper.cli import main
from threadkeeper.cli.common import load_settings
from threadkeeper.settings import Settings
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
def serve(port: int | None) -> None:
    """Serve the HTTP API only (Redis and the archive are configured by environment)."""
    settings = load_settings()
    if port is not None:
        settings = settings.with_overrides(port=port)
    check_bind(settings.host, settings.tokens_file is not None)
    import uvicorn  # only for the serving commands: every other command starts faster

    from threadkeeper.api import create_app

    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its clean shutdown
