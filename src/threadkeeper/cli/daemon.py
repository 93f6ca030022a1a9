"""The daemon's commands: `up` (everything), `serve` (the API alone), `status`, `stop`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from threadkeeper.cli import EXIT_FAILED, EXIT_NOT_RUNNING, main
from threadkeeper.cli.common import base_settings, json_option, load_settings
from threadkeeper.health.children import read_states
from threadkeeper.home import RunInfo, not_running, running_pid


@main.command()
@click.option("--port", type=int, help="API port (THREADKEEPER_PORT).")
def up(port: int | None) -> None:
    """Start everything: Redis (unless THREADKEEPER_REDIS_URL), worker, cron and the API."""
    from threadkeeper.daemon.up import run_up  # uvicorn and the API: only for `up`

    settings = base_settings()
    run_up(settings if port is None else settings.with_overrides(port=port))


@main.command()
@click.option("--port", type=int, help="API port (THREADKEEPER_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="API processes sharing the port (uvicorn's workers); see BENCHMARKS.md before raising.",
)
@click.option(
    "--shared",
    is_flag=True,
    hidden=True,  # `up` runs its extra API processes so, each on a socket of its own
    help="Bind the port beside `up`'s other API processes (SO_REUSEPORT).",
)
def serve(port: int | None, workers: int, shared: bool) -> None:
    """Serve the HTTP API only (Redis: THREADKEEPER_REDIS_URL, else the running `up`'s)."""
    from threadkeeper.daemon.serving import serve_only

    settings = load_settings()
    settings = settings if port is None else settings.with_overrides(port=port)
    serve_only(settings, workers, shared)


def _ready(api: str) -> str:
    """One line on the API's readiness (GET /readyz)."""
    try:
        with urllib.request.urlopen(f"{api}/readyz", timeout=5) as answer:
            return f"ready ({answer.status})"
    except urllib.error.HTTPError as exc:
        return f"not ready ({exc.code}): see `threadkeeper health`"
    except OSError as exc:
        return f"API not answering ({exc}): starting, or see logs/ in the home"


def _status_body(home: Path) -> dict[str, Any] | None:
    pid = running_pid(home)
    info = RunInfo.read(home) if pid is not None else None
    if pid is None or info is None:
        return None
    pids: dict[str, int | None] = {"up": pid, "redis-server": info.redis_pid, **info.children}
    return {
        "running": True, "home": str(home), "pids": pids, "api": info.api,
        "redis_url": info.redis_url, "archive_url": info.archive_url, "health": _ready(info.api),
        "children": [child.public() for child in read_states(home)],
    }  # fmt: skip


def _child_line(child: dict[str, Any]) -> str:
    """`worker: running (pid 12), died 3 times, last killed by SIGKILL`."""
    line = f"{child['name']}: " + (f"running (pid {child['pid']})" if child["running"] else
                                   "down, waiting to be restarted")  # fmt: skip
    if child["deaths"]:
        line += f", died {child['deaths']} times, last {child['last_exit']} (log {child['log']})"
    return line


@main.command()
@json_option
def status(as_json: bool) -> None:
    """Is `up` running for the home? Its pids, ports, URLs and one line of health."""
    home = base_settings().home
    body = _status_body(home)
    if body is None:
        if as_json:
            click.echo(json.dumps({"running": False, "home": str(home)}, indent=2))
        click.echo(not_running(home), err=True)
        sys.exit(EXIT_NOT_RUNNING)
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(f"threadkeeper is running for home {home}")
        click.echo("pids: " + ", ".join(f"{k} {v}" for k, v in body["pids"].items() if v))
        for name in ("api", "redis_url", "archive_url", "health"):
            click.echo(f"{name}: {body[name]}")
        for child in body["children"]:
            click.echo(_child_line(child))
    if not body["health"].startswith("ready"):
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for everything to stop.")  # fmt: skip
def stop(timeout: float) -> None:
    """Stop the `up` of the home gracefully (as SIGTERM does) and wait until it is gone."""
    home = base_settings().home
    pid = running_pid(home)
    if pid is None:
        click.echo(f"{not_running(home)} (nothing to stop)")
        return
    if pid <= 0:
        click.echo(f"threadkeeper: up holds {home} but its pid is unreadable", err=True)
        sys.exit(EXIT_FAILED)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(home) is not None:
        if time.monotonic() > deadline:
            click.echo(f"threadkeeper: still stopping after {timeout:.0f}s (pid {pid})", err=True)
            sys.exit(EXIT_FAILED)
        time.sleep(0.1)
    click.echo(f"threadkeeper stopped (home {home})")
