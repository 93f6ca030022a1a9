"""A Redis that came back without its data: health fails until `recover` runs or the loss
is acknowledged, and the acknowledgement says what it acknowledges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import Harness

from threadkeeper.home import Home
from threadkeeper.store import canary


def _lose_the_data(tk: Harness, home: Path) -> None:
    """What `up` meets when it restarts its Redis on a wiped data dir: no canary, and a
    run_id other than the one its home remembers (canary.check_home, as `up` calls it)."""
    tk("health", code=None)  # arms the canary
    tk.flushall()
    home.mkdir(parents=True, exist_ok=True)
    Home(home).redis_run_file.write_text(json.dumps({"run_id": "an-earlier-redis"}))
    assert canary.check_home(tk.redis_url, home).data_lost_at is not None


def _health(tk: Harness, *args: str) -> dict[str, Any]:
    result = tk("health", "--json", *args, code=None)
    body: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == {"ok": 0, "degraded": 1, "failing": 2}[body["status"]]
    return body


def test_a_loss_fails_health_until_recover_runs(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "kept", turns=2)
    tk("archive", "--all", "--wait")
    _lose_the_data(tk, tmp_path / "home")
    body = _health(tk)
    assert body["status"] == "failing"
    lost = [w for w in body["warnings"] if "WITHOUT its data" in w]
    assert lost and "threadkeeper recover" in lost[0] and "--acknowledge-loss" in lost[0]
    assert body["restart"]["data_loss_settled_by"] is None

    tk("recover")
    body = _health(tk)
    assert body["status"] != "failing"
    assert body["restart"]["data_loss_settled_by"] == "recover"
    assert any("dealt with by recover" in w for w in body["warnings"])


def test_an_acknowledged_loss_says_what_was_acknowledged(tk: Harness, tmp_path: Path) -> None:
    _lose_the_data(tk, tmp_path / "home")
    lost_at = _health(tk)["restart"]["data_lost_at"]
    result = tk("health", "--acknowledge-loss", code=None)
    assert f"acknowledged: Redis restarted at {lost_at} without its data" in result.stderr
    assert not result.stdout.startswith("status: FAILING")
    body = _health(tk)
    assert body["status"] != "failing" and body["restart"]["data_loss_settled_by"] == "acknowledged"
    again = tk("health", "--acknowledge-loss", code=None)
    assert "no data loss to acknowledge" in again.stderr

    # A later loss is a new one: failing again until it too is dealt with.
    _lose_the_data(tk, tmp_path / "home")
    assert _health(tk)["status"] == "failing"
