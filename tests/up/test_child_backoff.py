"""Issue 20 item 5: a child that keeps dying never takes the API or Redis down.

The worker is killed again as soon as `up` has restarted it, seven times in a row,
while appends and reads keep being answered; health, `threadkeeper health` and
`threadkeeper status` name the child, how often it died and its last exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from daemon_support import STARTUP_TIMEOUT, STOP_TIMEOUT, Daemon, clean_env
from threadkeeper.daemon.children import Backoff
from threadkeeper.daemon.orphans import alive
from waiting import wait_for

KILLS = 7
FAST = clean_env(THREADKEEPER_RESTART_BACKOFF="100ms", THREADKEEPER_RESTART_BACKOFF_MAX="1s",
                 THREADKEEPER_API_PROCESSES="2")  # fmt: skip


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_long_run() -> None:
    backoff = Backoff(first=1.0, cap=30.0)
    assert [backoff.after_death(ran_for=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_death(ran_for=30.0) == 1  # it had run fine for a while


def _restarted_worker(daemon: Daemon, killed: list[int]) -> int:
    """The worker's pid once `up` has started a new one (it never gives up on it)."""

    def new_worker() -> int | None:
        assert daemon.process is not None and daemon.process.poll() is None, daemon.output()
        try:
            pid = int(json.loads(daemon.paths.run_file.read_text())["children"]["worker"])
        except FileNotFoundError:
            return None  # up is exiting: the assert above says why
        return pid if pid not in killed and alive(pid) else None

    return wait_for(new_worker, "a new worker", timeout=STARTUP_TIMEOUT, interval=0.02,
                    detail=daemon.output)  # fmt: skip


def _health_after(daemon: Daemon, deaths: int) -> dict[str, Any]:
    """GET /v1/health once `up` has noticed the worker's `deaths`-th exit."""
    last: dict[str, Any] = {}

    def noticed() -> bool:
        last.update(daemon.client().get("/v1/health").json())
        (worker,) = [c for c in last["children"] if c["name"] == "worker"]
        return bool(worker["deaths"] >= deaths)

    wait_for(noticed, f"death {deaths} noticed", timeout=STOP_TIMEOUT, interval=0.05, fail=False)
    (worker,) = [c for c in last["children"] if c["name"] == "worker"]
    assert worker["deaths"] == deaths, last
    return last


def _command(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "threadkeeper", *args, "--home", str(daemon.home)]
    return subprocess.run(argv, env=clean_env(), capture_output=True, text=True,
                          timeout=STOP_TIMEOUT)  # fmt: skip


def test_a_worker_that_keeps_dying_never_stops_the_api(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon().start(env=FAST)
    http = daemon.client()
    assert http.post("/v1/threads", json={"id": "hot", "turns": []}).status_code == 201
    killed: list[int] = []
    for n in range(KILLS):
        pid = _restarted_worker(daemon, killed)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        turn = {"turns": [{"role": "user", "content": f"during kill {n}"}]}
        keyed = {"Idempotency-Key": f"k{n}"}
        appended = http.post("/v1/threads/hot/turns", json=turn, headers=keyed)
        assert appended.status_code == 201, appended.text
        assert http.get("/v1/threads/hot").status_code == 200

    health = _health_after(daemon, deaths=KILLS)
    (worker,) = [c for c in health["children"] if c["name"] == "worker"]
    assert worker["last_exit"] == "killed by SIGKILL"
    assert any(f"the worker died {KILLS} times" in w for w in health["warnings"]), health
    said = _command(daemon, "health", "--json")
    (worker,) = [c for c in json.loads(said.stdout)["children"] if c["name"] == "worker"]
    assert worker["deaths"] == KILLS, said.stderr
    status = _command(daemon, "status").stdout
    assert f"died {KILLS} times, last killed by SIGKILL" in status, status

    _restarted_worker(daemon, killed)  # and once more: `up` keeps at it
    got = http.get("/v1/threads/hot").json()
    assert [t["content"] for t in got["turns"]] == [f"during kill {n}" for n in range(KILLS)]
    assert daemon.stop() == 0
    daemon.assert_tree_gone()
