"""`threadkeeper status`, `stop` and `tokens`, run as a user would against a real `up`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from daemon_support import Daemon, threadkeeper
from threadkeeper.cli import EXIT_NOT_RUNNING


def test_status_then_stop_then_status(daemon: Daemon) -> None:
    home = str(daemon.home)
    shown = threadkeeper("status", "--home", home, "--json", cwd=daemon.home.parent)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["running"] is True and body["api"] == daemon.base
    assert body["pids"] == daemon.pids and body["health"].startswith("ready")

    stopped = threadkeeper("stop", "--home", home, cwd=daemon.home.parent)
    assert stopped.returncode == 0, stopped.stderr
    assert daemon.process is not None and daemon.process.poll() == 0  # gone when stop returns
    daemon.assert_tree_gone()

    after = threadkeeper("status", "--home", home, cwd=daemon.home.parent)
    assert after.returncode == EXIT_NOT_RUNNING
    assert f"threadkeeper is not running for home {home}" in after.stderr
    assert threadkeeper("stop", "--home", home, cwd=daemon.home.parent).returncode == 0


def test_tokens_add_then_up_answers_401_without_a_token(
    tmp_path: Path, make_daemon: Callable[..., Daemon]
) -> None:
    home = tmp_path / "home"
    added = threadkeeper("tokens", "add", "--tenant", "acme", "--home", str(home), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert f"added to {home / 'tokens.json'}" in added.stderr

    daemon = make_daemon(home).start()
    assert daemon.client().get("/v1/threads").status_code == 401
    authed = daemon.client(Authorization=f"Bearer {token}").get("/v1/threads")
    assert authed.status_code == 200
    assert f"auth: on, 1 token(s) in {home / 'tokens.json'}" in daemon.output()
    assert daemon.stop() == 0


def test_up_without_tokens_says_auth_is_off(daemon: Daemon) -> None:
    assert f"auth: off (no tokens file at {daemon.home / 'tokens.json'})" in daemon.output()
