"""`threadkeeper serve --workers N`: N API processes on one port, over one Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from threadkeeper.daemon.redis_server import free_port
from waiting import wait_for

STARTUP_TIMEOUT = 60


def _serve(
    tmp_path: Path, redis_url: str, workers: int, queue_env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
    env |= {"THREADKEEPER_REDIS_URL": redis_url, "THREADKEEPER_HOME": str(tmp_path / "home"),
            "THREADKEEPER_ARCHIVE_URL": (tmp_path / "archive").as_uri(), **queue_env}  # fmt: skip
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")  # where serve keeps the workers' counter files
    args = [sys.executable, "-m", "threadkeeper", "serve", "--port", str(port),
            "--workers", str(workers)]  # fmt: skip
    with (tmp_path / "serve.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"threadkeeper serve exited: {log.read_text(errors='replace')}")
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200

    wait_for(ready, "threadkeeper serve to be ready", timeout=STARTUP_TIMEOUT, interval=0.2,
             ignoring=(httpx.TransportError,))  # fmt: skip


def _worker_pids(log: Path) -> set[str]:
    """uvicorn logs 'Started server process [PID]' once per worker."""
    text = log.read_text(errors="replace")
    return {line.rsplit("[", 1)[1].rstrip("]") for line in text.splitlines()
            if "Started server process" in line}  # fmt: skip


def _appended_by(tmp_path: Path, pid: str) -> float:
    """What one worker alone counted, from its own file in serve's metrics directory."""
    paths = [str(p) for p in (tmp_path / "tmp").glob(f"threadkeeper-metrics-*/counter_{pid}.db")]
    return sum(s.value for f in MultiProcessCollector.merge(paths)
               if f.name == "threadkeeper_appended_turns" for s in f.samples)  # fmt: skip


def _appended(base: str) -> float:
    with httpx.Client(base_url=base, timeout=30) as fresh:
        text = fresh.get("/metrics").text
    families = text_string_to_metric_families(text)
    return sum(s.value for f in families if f.name == "threadkeeper_appended_turns"
               for s in f.samples)  # fmt: skip


def test_serve_with_two_workers_answers_from_both(
    tmp_path: Path, redis_url: str, queue_env: dict[str, str]
) -> None:
    process, base = _serve(tmp_path, redis_url, 2, queue_env)
    log = tmp_path / "serve.log"
    try:
        _wait_ready(process, base, log)
        wait_for(lambda: len(_worker_pids(log)) >= 2, "two worker processes",
                 timeout=STARTUP_TIMEOUT, detail=log.read_text)  # fmt: skip
        assert len(_worker_pids(log)) == 2, log.read_text(errors="replace")
        with httpx.Client(base_url=base, timeout=30) as client:
            created = client.post("/v1/threads", json={"id": "w", "turns": []})
            assert created.status_code == 201, created.text
            for i in range(20):  # new connections: the kernel spreads them over the workers
                with httpx.Client(base_url=base, timeout=30) as fresh:
                    turn = {"role": "user", "content": f"{i}"}
                    r = fresh.post("/v1/threads/w/turns", json={"turns": [turn]})
                    assert r.status_code == 201, r.text
            body = client.get("/v1/threads/w").json()
            scraped = [_appended(base) for _ in range(6)]  # whichever worker answers
        assert [t["content"] for t in body["turns"]] == [str(i) for i in range(20)]
        by_pid = {pid: _appended_by(tmp_path, pid) for pid in _worker_pids(log)}
        assert all(by_pid.values()), f"one worker answered every append: {by_pid}"
        assert sum(by_pid.values()) == 20
        assert scraped == [20.0] * 6  # every worker's appends, not the answering one's
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
