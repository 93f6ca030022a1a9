"""Search under `up`: its indexer keeps the index, which survives a restart of `up`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import httpx

from daemon_support import Daemon, clean_env
from waiting import wait_for

WAIT = 60  # seconds the indexer gets to apply a change


def hits(http: httpx.Client, q: str) -> list[tuple[str, int]]:
    response = http.get("/v1/search", params={"q": q})
    if response.status_code == 503:  # the index is being built
        return []
    assert response.status_code == 200, response.text
    return [(h["thread_id"], h["seq"]) for h in response.json()["results"]]


def until(check: Callable[[], bool]) -> bool:
    return bool(wait_for(check, "the indexer", timeout=WAIT, fail=False))


def cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "threadkeeper", *args, "--home", str(daemon.home)]
    return subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=60)


def test_the_index_survives_a_restart_of_up(
    daemon: Daemon, make_daemon: Callable[..., Daemon]
) -> None:
    http = daemon.client()
    turns = [{"role": "user", "content": "remember the marmalade recipe"}]
    assert http.post("/v1/threads", json={"id": "jam", "turns": turns}).status_code == 201
    gone = [{"role": "user", "content": "forget the quince paste"}]
    assert http.post("/v1/threads", json={"id": "paste", "turns": gone}).status_code == 201
    assert until(lambda: hits(http, "marmalade") == [("jam", 1)])
    assert until(lambda: hits(http, "quince") == [("paste", 1)])
    assert http.delete("/v1/threads/paste").status_code == 204
    assert until(lambda: hits(http, "quince") == [])
    found = cli(daemon, "search", "marmalade", "--json")
    assert found.returncode == 0, found.stderr
    assert [h["thread_id"] for h in json.loads(found.stdout)["results"]] == ["jam"]
    assert daemon.stop() == 0

    again = make_daemon(daemon.home).start()
    http = again.client()
    assert hits(http, "marmalade") == [("jam", 1)]  # at once: the index was kept
    assert hits(http, "quince") == []
    rebuilt = cli(again, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 thread(s), 1 turn(s)" in rebuilt.stdout
    assert hits(http, "marmalade") == [("jam", 1)] and hits(http, "quince") == []
    assert again.stop() == 0
