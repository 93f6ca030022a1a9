"""What the CLI says with no `up` running, and the options every command shares."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from threadkeeper.cli import EXIT_NOT_RUNNING, main
from threadkeeper.home import Home


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found |= _commands(command, f"{prefix}{name} ")
    return found


def test_every_command_takes_home() -> None:
    commands = _commands(main)
    assert {"up", "serve", "status", "stop", "ls", "tokens add", "health"} <= set(commands)
    lacking = [n for n, c in commands.items() if not any(p.name == "home" for p in c.params)]
    assert lacking == []


@pytest.mark.parametrize("args", [["ls"], ["show", "x"], ["health"], ["archive", "--all"]])
def test_a_stopped_daemon_is_reported_as_stopped(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    stale = {"redis_url": "redis://127.0.0.1:1/0", "archive_url": None, "api": "http://x"}
    Home(home).run_file.write_text(json.dumps(stale))  # left by an `up` that was killed

    result = CliRunner().invoke(main, [*args, "--home", str(home)])
    assert result.exit_code == EXIT_NOT_RUNNING, result.output
    said = result.stderr
    assert f"threadkeeper is not running for home {home}" in said
    assert f"start it with `threadkeeper up --home {home}`" in said
    assert "redis-check-aof" not in said and "Idempotency-Key" not in said
