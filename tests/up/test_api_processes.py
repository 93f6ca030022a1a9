"""`up` runs THREADKEEPER_API_PROCESSES API processes on its one port, counting together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from daemon_support import STARTUP_TIMEOUT, STOP_TIMEOUT, Daemon, clean_env, wait_gone
from threadkeeper.daemon.orphans import alive
from threadkeeper.home import Home
from threadkeeper.settings import auto_api_processes
from waiting import wait_for

REQUESTS = 40
TWO = clean_env(THREADKEEPER_API_PROCESSES="2")


def _status(daemon: Daemon) -> dict[str, object]:
    args = [sys.executable, "-m", "threadkeeper", "status", "--json", "--home", str(daemon.home)]
    done = subprocess.run(args, env=clean_env(), capture_output=True, timeout=STOP_TIMEOUT)
    assert done.returncode == 0, done.stderr
    body: dict[str, object] = json.loads(done.stdout)
    return body


def _append(daemon: Daemon, thread: str, n: int) -> None:
    """`n` appends, each on a new connection: the kernel spreads them over the processes."""
    assert daemon.client().post("/v1/threads", json={"id": thread, "turns": []}).status_code == 201
    for i in range(n):
        with httpx.Client(base_url=daemon.base, timeout=30) as fresh:
            turn = {"role": "user", "content": str(i)}
            assert (
                fresh.post(f"/v1/threads/{thread}/turns", json={"turns": [turn]}).status_code == 201
            )


def _turns_counted_by(home: Path, pid: int) -> float:
    """What one process alone counted, from its own file in the shared metrics directory."""
    path = Home(home).metrics_dir / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    for family in MultiProcessCollector.merge([str(path)]):
        if family.name == "threadkeeper_appended_turns":
            return sum(sample.value for sample in family.samples)
    return 0.0


def _scraped_turns(daemon: Daemon) -> float:
    text = daemon.client().get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "threadkeeper_appended_turns":
            return sum(sample.value for sample in family.samples)
    return 0.0


def test_two_api_processes_share_the_port_and_count_together(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon().start(env=TWO)
    pids = _status(daemon)["pids"]
    assert isinstance(pids, dict) and set(pids) == {
        "up",
        "redis-server",
        "api-2",
        "worker",
        "cron",
        "indexer",
    }
    assert "API http://127.0.0.1:" in daemon.output() and "(2 processes)" in daemon.output()

    _append(daemon, "shared", REQUESTS)
    by_pid = {name: _turns_counted_by(daemon.home, pids[name]) for name in ("up", "api-2")}
    assert all(by_pid.values()), f"one process answered everything: {by_pid}"
    assert sum(by_pid.values()) == REQUESTS
    # Whichever process answers the scrape, it reports the appends of both.
    for _ in range(10):
        with httpx.Client(base_url=daemon.base, timeout=30) as fresh:
            text = fresh.get("/metrics").text
        turns = [f for f in text_string_to_metric_families(text)
                 if f.name == "threadkeeper_appended_turns"]  # fmt: skip
        assert [s.value for s in turns[0].samples] == [REQUESTS]

    assert daemon.stop() == 0
    daemon.assert_tree_gone()
    assert not daemon.paths.run_file.exists()


def test_a_killed_api_process_is_restarted_and_its_counts_kept(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon().start(env=TWO)
    _append(daemon, "before", REQUESTS)
    killed = daemon.pids["api-2"]
    os.kill(killed, signal.SIGKILL)
    assert not wait_gone(killed)

    restarted = wait_for(
        lambda: daemon.tree()["api-2"] != killed and daemon.tree()["api-2"],
        "api-2 to be restarted",
        timeout=STARTUP_TIMEOUT,
        detail=daemon.output,
    )
    assert restarted != killed and alive(restarted), daemon.output()
    assert "api-2 exited (killed by SIGKILL; 1 death so far); restarting it" in daemon.output()
    _append(daemon, "after", 10)
    assert _scraped_turns(daemon) == REQUESTS + 10  # the dead process's counts still count

    daemon.pids["api-2"] = restarted
    assert daemon.stop() == 0
    daemon.assert_tree_gone()


def test_up_after_kill_9_stops_the_api_process_it_left(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon().start(env=TWO)
    old = dict(daemon.pids)
    os.kill(old["api-2"], signal.SIGSTOP)  # frozen, it cannot follow its `up` (issue 25)
    assert daemon.signal(signal.SIGKILL) == -signal.SIGKILL
    assert alive(old["api-2"])  # its socket still queues connections: the next `up` stops it

    second = make_daemon(daemon.home).start(env=TWO)
    assert not any(wait_gone(pid) for pid in old.values())
    said = second.output()
    assert f"stopping api-2 (pid {old['api-2']}), left running by an earlier" in said
    assert "frozen (SIGSTOP)" in said
    _append(second, "again", 10)
    assert _scraped_turns(second) == 10  # the metrics directory was emptied at start
    assert second.stop() == 0
    second.assert_tree_gone()


def test_the_default_is_one_api_process_per_core(make_daemon: Callable[..., Daemon]) -> None:
    n = auto_api_processes()  # this machine's cores, capped: the test's affinity is up's
    daemon = make_daemon().start()
    apis = sorted(name for name in daemon.pids if name.startswith("api-"))
    assert apis == [f"api-{i}" for i in range(2, n + 1)]
    assert f"({n} process{'' if n == 1 else 'es'})" in daemon.output()
    assert daemon.stop() == 0
    daemon.assert_tree_gone()


def test_a_bad_api_processes_fails_at_start_naming_the_variable(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    process = daemon.launch(env=clean_env(THREADKEEPER_API_PROCESSES="all"))
    assert process.wait(STOP_TIMEOUT) == 2
    said = daemon.output()
    assert "THREADKEEPER_API_PROCESSES='all'" in said and "write auto" in said
    assert "redis-server on" not in said and not daemon.paths.run_file.exists()


def _listening_inodes(port: int) -> set[str]:
    """The sockets listening on `port`, by inode (/proc/net/tcp: state 0A is LISTEN)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                found.add(fields[9])
    return found


def _sockets_of(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    links = (os.readlink(fd) for fd in fds.iterdir())
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def test_each_api_process_listens_on_a_socket_of_its_own(
    make_daemon: Callable[..., Daemon],
) -> None:
    """One shared socket handed a burst of new connections to whichever process woke
    first (31 of 32 in the bench); with one socket each, the kernel spreads them."""
    daemon = make_daemon().start(env=TWO)
    api2 = wait_for(lambda: daemon.tree().get("api-2"), "api-2", timeout=STARTUP_TIMEOUT)

    def listening() -> dict[str, set[str]]:
        on_port = _listening_inodes(daemon.port)
        return {name: _sockets_of(pid) & on_port for name, pid in (("up", daemon.pids["up"]),
                                                                   ("api-2", api2))}  # fmt: skip

    mine = wait_for(lambda: all(listening().values()) and listening(),
                    "both API processes listening", timeout=STARTUP_TIMEOUT)  # fmt: skip
    assert all(len(inodes) == 1 for inodes in mine.values()), mine
    assert not mine["up"] & mine["api-2"], f"one socket shared: {mine}"
    _append(daemon, "spread", 10)
    assert daemon.stop() == 0
    daemon.assert_tree_gone()


def test_a_second_up_on_the_same_port_is_refused_not_joined(
    tmp_path: Path, make_daemon: Callable[..., Daemon]
) -> None:
    """The API processes' sockets share the port (SO_REUSEPORT): another `up`, which
    would set it too, must still find the port taken."""
    first = make_daemon().start(env=TWO)
    second = make_daemon(tmp_path / "other-home")
    second.port = first.port
    process = second.launch(env=TWO)
    assert process.wait(STOP_TIMEOUT) == 2
    assert f"cannot listen on 127.0.0.1:{first.port}" in second.output()
    assert first.stop() == 0
    first.assert_tree_gone()
