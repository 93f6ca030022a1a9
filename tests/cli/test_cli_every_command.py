"""Every CLI command on the 3-master cluster: each has a recipe, none meets a cross-slot error.

The commands come from the click group itself, and the test fails naming any
command without a recipe below. Data commands run in-process (CliRunner), the
long-running ones (`up`, `serve`, `worker`, `cron`) as real subprocesses stopped by
pid; `status` and `stop` act on that `up`. Threads sit on every master.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx
import pytest
from cli_support import Harness
from click.testing import Result
from rq import Queue

from cross_slot import bad_records, cross_slot_traces, one_per_master
from daemon_support import Daemon, clean_env
from redis_cluster import RedisCluster
from threadkeeper import keys
from threadkeeper.cli import main
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.models import DEFAULT_TENANT
from threadkeeper.store.connection import queue_connection
from waiting import wait_for

pytestmark = pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)

WAIT = 60  # seconds for a subprocess to get somewhere


def leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    """`up`, `tokens add`...: every command a user can run, subgroups walked."""
    names: set[str] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= leaf_commands(command, f"{prefix}{name} ")
        else:
            names.add(prefix + name)
    return names


@dataclass
class Run:
    """The CLI on the cluster, and everything the commands printed, for the final checks."""

    tk: Harness
    cluster: RedisCluster
    tmp: Path
    ids: list[str]
    ran: set[str] = field(default_factory=set)
    output: list[str] = field(default_factory=list)
    token: str = ""

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.tk(*args, code=code)
        self.ran.add(" ".join(args[:2] if isinstance(main.commands[args[0]], click.Group)
                              else args[:1]))  # fmt: skip
        self.output.append(f"$ threadkeeper {' '.join(args)}\n{result.stdout}{result.stderr}")
        return result

    @contextmanager
    def by_home(self) -> Iterator[None]:
        """Commands without THREADKEEPER_REDIS_URL or _QUEUE_REDIS_URL: they take up's."""
        with pytest.MonkeyPatch.context() as patch:
            for name in ("THREADKEEPER_REDIS_URL", "THREADKEEPER_QUEUE_REDIS_URL"):
                patch.delenv(name)
            yield

    def json(self, *args: str, code: int = 0) -> dict[str, object]:
        return dict(json.loads(self(*args, "--json", code=code).stdout))

    def spawn(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """`threadkeeper NAME ARGS` as a subprocess in a session of its own, logged to tmp."""
        self.ran.add(name)
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "threadkeeper", name, *args],
                env=clean_env(**self.tk.env, **env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("*.log")))


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM to its process group, as a service manager would; its exit code."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(WAIT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


@pytest.fixture
def run(tk: Harness, redis_cluster: RedisCluster, tmp_path: Path) -> Iterator[Run]:
    logs = tmp_path / "logs"
    logs.mkdir()
    yield Run(tk, redis_cluster, logs, one_per_master(redis_cluster, DEFAULT_TENANT, "c", 2))


def _threads(r: Run) -> None:
    """ls, show, archive --wait, rehydrate, export, then FLUSHALL on every master and import."""
    for thread_id in r.ids:
        r.tk.seed(DEFAULT_TENANT, thread_id)
    listed = r.json("ls")["threads"]
    assert sorted(t["id"] for t in listed) == sorted(r.ids)  # type: ignore[union-attr,index]
    for thread_id in r.ids:
        assert len(r.json("show", thread_id)["turns"]) == 3  # type: ignore[arg-type]
    assert r.json("archive", *r.ids, "--wait")["counts"] == {"archived": len(r.ids)}
    assert r.json("rehydrate", "--all")["counts"] == {"present": len(r.ids)}
    exported = r.tmp.parent / "all.jsonl"
    r("export", "--all", "-o", str(exported))
    r.cluster.flush()
    assert r.json("import", str(exported))["counts"] == {"imported": len(r.ids)}
    assert r.json("recover")["counts"].keys() <= {"present", "restored"}  # type: ignore[union-attr]
    assert len(r.json("show", r.ids[-1])["turns"]) == 3  # type: ignore[arg-type]


def _health_and_tokens(r: Run) -> None:
    body = r.json("health", code=1)  # degraded: no worker, no sweep yet
    assert body["status"] == "degraded", body
    added = r("tokens", "add", "--tenant", "spare")
    token_id = r.json("tokens", "list")["tokens"][0]["id"]  # type: ignore[index]
    r("tokens", "revoke", token_id)
    assert added.stdout.startswith("tk_")
    r.token = r("tokens", "add", "--tenant", DEFAULT_TENANT).stdout.split()[0]


def _daemon(r: Run) -> None:
    """up on the cluster; status and stop by --home; the CLI by --home finds its stores."""
    daemon = Daemon(r.tk.settings.home)
    daemon.log_path = r.tmp / "up.log"
    r.ran.add("up")
    try:
        daemon.start(env=clean_env(**r.tk.env))
        http = daemon.client(authorization=f"Bearer {r.token}")
        assert http.get(f"/v1/threads/{r.ids[0]}").status_code == 200
        status = r.json("status")
        assert status["redis_url"] == r.cluster.url and status["health"] == "ready (200)"
        with r.by_home():  # the stores up runs on, from run.json: RQ's Redis too
            assert r.json("archive", r.ids[0])["queued_jobs"] == 1
        r("stop")
        assert daemon.process is not None and daemon.process.wait(WAIT) == 0
        daemon.assert_tree_gone()
    finally:
        daemon.close()
    r("status", code=4)  # stopped now, and it says so


def _serve(r: Run) -> None:
    port = free_port()
    process = r.spawn("serve", "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _answers(f"{base}/readyz"), "serve to answer /readyz", process)
        found = httpx.get(f"{base}/v1/threads/{r.ids[1]}", timeout=30,
                          headers={"authorization": f"Bearer {r.token}"})  # fmt: skip
        assert found.status_code == 200, found.text
        _mcp(r, base)
    finally:
        assert _stop(process) == 0


def _mcp(r: Run, base: str) -> None:
    """`mcp` on stdio against that daemon: the handshake, one tool call, then stdin closes."""
    r.ran.add("mcp")
    env = clean_env(**r.tk.env, THREADKEEPER_URL=base, THREADKEEPER_TOKEN=r.token)
    process = subprocess.Popen([sys.executable, "-m", "threadkeeper", "mcp"], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    params = {"protocolVersion": "2025-06-18", "capabilities": {},
              "clientInfo": {"name": "test", "version": "0"}}  # fmt: skip
    for message in ({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
                    {"jsonrpc": "2.0", "method": "notifications/initialized"},
                    {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                     "params": {"name": "list_threads", "arguments": {}}}):  # fmt: skip
        process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()
    answers = [json.loads(process.stdout.readline()) for _ in range(2)]
    process.communicate(timeout=WAIT)  # closes stdin: the client going away
    assert process.returncode == 0
    listed = json.loads(answers[1]["result"]["content"][0]["text"])["threads"]
    assert sorted(t["id"] for t in listed) == sorted(r.ids)


def _jobs(r: Run) -> None:
    """archive (queued), cron until its sweep is queued, then a worker runs them all."""
    assert r.json("archive", *r.ids)["queued_jobs"] == 1
    with queue_connection(r.tk.settings) as connection:
        queue = Queue(r.tk.settings.queue_name, connection=connection)
        cron = r.spawn("cron", THREADKEEPER_SWEEP_INTERVAL="3600")
        try:
            _wait(lambda: any(j.startswith("threadkeeper-sweep-") for j in queue.job_ids),
                  "cron to queue a sweep", cron)  # fmt: skip
        finally:
            assert _stop(cron) == 0
        worker = r.spawn("worker", "--burst")
        assert worker.wait(WAIT) == 0, r.logs()
        assert queue.count == 0 and queue.finished_job_registry.count >= 2
    with r.tk.redis() as hot:
        assert hot.hget(keys.SWEEPER_HEARTBEAT, "last_run")  # the sweep ran on the cluster


def _search(r: Run) -> None:
    """indexer (a subprocess) until search finds every thread; reindex asks it to rebuild."""
    indexer = r.spawn("indexer")
    try:

        def found() -> bool:
            result = r.tk.runner.invoke(main, ["search", "turn", "--json"])
            if result.exit_code != 0:
                return False
            return {h["thread_id"] for h in json.loads(result.stdout)["results"]} == set(r.ids)

        _wait(found, "the indexer to index every thread", indexer)
        r.ran.add("search")
        assert "rebuilt" in r("reindex").stdout
        hits = r.json("search", "turn", "--limit", "100")["results"]
        assert len(hits) == 3 * len(r.ids)  # type: ignore[arg-type]
        assert r.json("search", "turn", "--user", "nobody")["results"] == []  # none owned
    finally:
        assert _stop(indexer) == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    def done() -> bool:
        assert process.poll() is None, f"exited ({process.returncode}) before {what}"
        return check()

    wait_for(done, what, timeout=WAIT)


def test_every_command_on_the_cluster_with_threads_on_every_master(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    _threads(run)
    _health_and_tokens(run)
    _daemon(run)
    _serve(run)
    _jobs(run)
    _search(run)

    missing = sorted(leaf_commands(main) - run.ran)
    assert not missing, f"commands no recipe of this test ran (add one): {missing}"
    printed = "\n".join(run.output) + run.logs()
    assert cross_slot_traces(printed) == [] and "Traceback" not in printed, printed[-3000:]
    assert bad_records(caplog.records) == []
