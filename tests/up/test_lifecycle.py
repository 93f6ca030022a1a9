"""`up` under a service manager and at a terminal: real signals to a real process tree."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import redis

from daemon_support import STOP_TIMEOUT, Daemon, clean_env
from threadkeeper.settings import auto_api_processes
from waiting import wait_for


def _stop_order(output: str) -> list[str]:
    marks = {"uvicorn.error: Shutting down": "api", "redis-server stopped": "redis"}
    found = [(output.find(text), name) for text, name in marks.items()]
    return [name for at, name in sorted(found) if at >= 0]


def test_sigterm_stops_api_then_children_then_redis_and_exits_0(daemon: Daemon) -> None:
    http = daemon.client()
    assert http.post("/v1/threads", json={"id": "t", "turns": [
        {"role": "user", "content": "kept"}]}).status_code == 201  # fmt: skip
    apis = {f"api-{n}" for n in range(2, auto_api_processes() + 1)}  # the default: per core
    assert set(daemon.pids) == {"up", "redis-server", "worker", "cron", "indexer"} | apis

    assert daemon.stop() == 0
    daemon.assert_tree_gone()
    assert _stop_order(daemon.output()) == ["api", "redis"]
    assert not daemon.paths.run_file.exists()


def test_ctrl_c_reaches_up_alone_and_redis_stops_last(daemon: Daemon) -> None:
    up_group = os.getpgid(daemon.pids["up"])
    for name in set(daemon.pids) - {"up"}:  # out of the terminal's process group
        assert os.getpgid(daemon.pids[name]) != up_group, name

    assert daemon.signal(signal.SIGINT, group=True) == 0  # what Ctrl-C sends
    daemon.assert_tree_gone()
    assert _stop_order(daemon.output()) == ["api", "redis"]
    worker_log = daemon.paths.log("worker").read_text()
    assert "Traceback" not in worker_log and "ConnectionError" not in worker_log


def test_a_second_up_on_the_same_home_refuses_with_the_running_pid(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    before = daemon.paths.run_file.read_text()
    second = make_daemon(daemon.home)
    assert second.launch().wait(STOP_TIMEOUT) == 2
    said = second.output()
    assert f"already running for home {daemon.home} (pid {daemon.pids['up']})" in said
    assert daemon.paths.run_file.read_text() == before
    assert daemon.client().get("/readyz").status_code == 200


def test_a_redis_that_cannot_start_gives_up_instead_of_looping(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    """Redis's port taken by a stranger after a crash: a few paced retries, then exit 1."""
    url = daemon.redis_url()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    os.kill(daemon.pids["redis-server"], signal.SIGKILL)
    squatter = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ping(port)
        assert daemon.process is not None
        assert daemon.process.wait(STOP_TIMEOUT * 2) == 1
        said = daemon.output()
        assert "redis-server cannot be kept running" in said
        assert len(re.findall("redis-server exited", said)) <= 5
        daemon.assert_tree_gone()
    finally:
        squatter.terminate()
        squatter.wait(30)


def _wait_ping(port: int) -> None:
    wait_for(lambda: redis.Redis(port=port, socket_connect_timeout=1).ping(), f"redis on {port}",
             interval=0.05, ignoring=(redis.ConnectionError,))  # fmt: skip


def test_a_busy_port_names_the_flag_and_starts_nothing(
    tmp_path: Path, make_daemon: Callable[..., Daemon]
) -> None:
    import socket

    daemon = make_daemon()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", daemon.port))
        taken.listen()
        process = daemon.launch(env=clean_env())
        assert process.wait(STOP_TIMEOUT) == 2
    said = daemon.output()
    assert f"cannot listen on 127.0.0.1:{daemon.port}" in said
    assert "--port" in said and "THREADKEEPER_PORT" in said
    assert "is up" not in said and "redis-server on" not in said
