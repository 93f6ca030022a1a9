"""Every route of the app on the 3-master cluster, auth on: no 5xx, no cross-slot trace.

The routes come from `create_app(...).routes` (mounts included), and the test fails
naming any route the recipes below did not reach: a new route needs a recipe here.
Threads sit on every master; the archive is a file archive, the job queue the
standalone test Redis, an archive job is run by an RQ worker in this process.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from app_routes import Endpoint, endpoints
from cross_slot import bad_records, cross_slot_traces, one_per_master
from local_client import local_client
from redis_cluster import RedisCluster
from s3server import S3Server
from search_support import index_now
from threadkeeper.api import create_app
from threadkeeper.auth import add_token
from threadkeeper.jobs import tasks as jobs
from threadkeeper.jobs.worker import make_worker
from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_connection

pytestmark = pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)

TENANT = "alice"


@dataclass
class Calls:
    """Every request made, by the endpoint it reached, and what looked wrong."""

    routes: dict[Endpoint, re.Pattern[str]]
    reached: set[Endpoint] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def record(self, response: httpx.Response) -> None:
        response.read()
        method, path = response.request.method, response.request.url.path
        hit = [e for e, pattern in self.routes.items() if e[0] == method and pattern.match(path)]
        self.reached.update(hit[:1])
        if response.status_code >= 500:
            self.problems.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
        for line in cross_slot_traces(response.text):
            self.problems.append(f"{method} {path}: {line}")


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def calls(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Calls, _Driver]]:
    """The app with tokens on, over a file archive, then the real S3 server."""
    tokens = tmp_path / "tokens.json"
    _, token = add_token(tokens, TENANT)
    settings = make_settings(tokens_file=tokens)
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        settings = settings.with_overrides(archive_url=f"s3://{server.bucket}/{uuid.uuid4().hex}")
    for name, value in _job_env(settings).items():  # jobs run here read it, as a worker's do
        monkeypatch.setenv(name, value)
    app = create_app(settings)
    recorded = Calls(endpoints(app.routes))
    with local_client(app, raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {token}"
        client.event_hooks = {"response": [recorded.record]}
        yield recorded, _Driver(client, settings, token)
    jobs.close()


def _job_env(settings: Settings) -> dict[str, str]:
    values = {"REDIS_URL": settings.redis_url, "QUEUE_REDIS_URL": settings.queue_redis_url,
              "ARCHIVE_URL": settings.archive_url, "HOME": str(settings.home)}  # fmt: skip
    return {f"THREADKEEPER_{k}": v for k, v in values.items() if v}


@dataclass
class _Driver:
    http: TestClient
    settings: Settings
    token: str

    def call(self, method: str, url: str, expect: int, **options: Any) -> httpx.Response:
        answer = self.http.request(method, url, **options)
        assert answer.status_code == expect, f"{method} {url}: {answer.status_code} {answer.text}"
        return answer

    def run_queued_jobs(self) -> None:
        """An RQ worker in this process runs what is queued (on the standalone queue Redis)."""
        with queue_connection(self.settings) as connection:
            worker = make_worker(self.settings, connection)
            assert worker.work(burst=True), "the worker ran no job"


def _threads(d: _Driver, thread_id: str) -> None:
    """The native thread routes, edits, fork, context and both tiers, on one thread."""
    base = f"/v1/threads/{thread_id}"
    turns = [{"role": "user", "content": f"{thread_id} q{n}"} for n in range(3)]
    d.call("POST", "/v1/threads", 201, json={"id": thread_id, "title": "t", "turns": turns},
           headers={"Idempotency-Key": f"c-{thread_id}"})  # fmt: skip
    more = {"turns": [{"role": "assistant", "content": "a", "tokens": 3}]}
    d.call("POST", f"{base}/turns", 201, json=more, headers={"Idempotency-Key": f"a-{thread_id}"})
    d.call("POST", f"{base}/turns", 200, json=more, headers={"Idempotency-Key": f"a-{thread_id}"})
    d.call("POST", f"{base}/turns", 201, json=more)
    d.call("GET", f"{base}?limit=2", 200)
    d.call("GET", f"{base}/context?max_tokens=100", 200)
    d.call("PATCH", base, 200, json={"title": "renamed", "metadata": {"k": "v"}})
    d.call("PATCH", f"{base}/turns/1", 200, json={"content": "edited"})
    d.call("DELETE", f"{base}/turns/2", 200)
    forked = d.call("POST", f"{base}/fork", 201, json={"at_seq": 3}).json()["thread"]["id"]
    d.call("GET", f"/v1/threads/{forked}", 200)
    d.call("POST", f"{base}/archive?wait=true", 200)
    d.call("POST", f"{base}/rehydrate", 200)
    d.call("POST", f"{base}/turns", 201, json=more)
    assert d.call("POST", f"{base}/archive", 202).json()["status"] == "queued"


def _listing(d: _Driver, ids: list[str]) -> None:
    seen: list[str] = []
    url = "/v1/threads?limit=2"
    while url:
        page = d.call("GET", url, 200).json()
        seen += [t["id"] for t in page["threads"]]
        url = f"/v1/threads?limit=2&cursor={page['next']}" if page["next"] else ""
    assert set(ids) <= set(seen) and len(seen) == len(set(seen)), seen
    d.call("GET", "/v1/threads?prefix=r&updated_after=2020-01-01T00:00:00Z", 200)


def _mcp(d: _Driver, ids: list[str]) -> None:
    """/mcp, stateless: each tool call goes back into the app with the caller's token."""
    accept = {"accept": "application/json, text/event-stream"}
    init = {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}  # fmt: skip
    d.call("POST", "/mcp", 200, headers=accept,
           json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})  # fmt: skip
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "list_threads", "arguments": {"limit": 100}}}  # fmt: skip
    answer = d.call("POST", "/mcp", 200, headers=accept, json=call)
    listed = json.loads(answer.json()["result"]["content"][0]["text"])["threads"]
    assert set(ids) <= {t["id"] for t in listed}


def _search(d: _Driver, ids: list[str], *, deleted: bool = False) -> None:
    """The indexer (in-process) over the cluster's feed, then a search per tier of change."""
    index_now(d.settings)
    hits = d.call("GET", "/v1/search?q=q2&limit=50", 200).json()["results"]
    found = {h["thread_id"] for h in hits}  # the threads, and their forks (kept)
    assert not found & set(ids) if deleted else set(ids) <= found, hits


def _conversations(d: _Driver) -> None:
    item = {"type": "message", "role": "user", "content": "hello"}
    conv = d.call("POST", "/v1/conversations", 200, json={"items": [item]}).json()["id"]
    base = f"/v1/conversations/{conv}"
    d.call("GET", base, 200)
    d.call("POST", base, 200, json={"metadata": {"topic": "cluster"}})
    d.call("POST", f"{base}/items", 200, json={"items": [item, item]})
    items = d.call("GET", f"{base}/items?limit=2", 200).json()["data"]
    d.call("GET", f"{base}/items/{items[0]['id']}", 200)
    d.call("DELETE", f"{base}/items/{items[1]['id']}", 200)
    d.call("DELETE", base, 200)


def _console(d: _Driver, thread_id: str) -> None:
    """The console pages and actions (login, CSRF), on a thread of its own."""
    d.call("POST", "/v1/threads", 201, json={"id": thread_id, "turns": [
        {"role": "user", "content": "console"}]})  # fmt: skip
    page = f"/ui/threads/{thread_id}"
    html = {"accept": "text/html", "authorization": ""}  # a browser: the cookie, no bearer
    d.call("GET", "/ui/", 200, headers=html)  # to the login page
    d.call("GET", "/ui/login", 200, headers=html)
    csrf = d.http.cookies["tk_csrf"]
    form = {"csrf": csrf}
    d.call("POST", "/ui/login", 200, data=form | {"token": d.token}, headers=html)
    for url in (
        "/ui/threads",
        "/ui/health",
        page,
        f"{page}/delete",
        "/ui/static/console.css",
        "/ui/search?q=q2",
    ):
        d.call("GET", url, 200, headers=html)
    assert d.call("GET", f"{page}/export.jsonl", 200, headers=html).text.count("\n") == 1
    d.call("POST", f"{page}/archive", 200, data=form, headers=html)
    d.call("POST", f"{page}/rehydrate", 200, data=form, headers=html)
    d.call("POST", f"{page}/fork", 200, data=form | {"at_seq": "1"}, headers=html)
    d.call("POST", f"{page}/delete", 303, data=form, headers=html, follow_redirects=False)
    assert "deleted" in d.call("GET", page, 404, headers=html).text
    d.call("POST", "/ui/logout", 200, data=form, headers=html)


def _checkpoints(d: _Driver, thread_id: str) -> None:
    """The LangGraph checkpoint routes, cold read (rehydrate) included, on one thread."""
    base = f"/v1/threads/{thread_id}"
    value = {"channel": "x", "version": 1, "value": ["msgpack", "AQ=="]}
    put = {"thread": thread_id, "id": "c1", "checkpoint": ["msgpack", "gA=="],
           "versions": {"x": 1}, "metadata": {"run_id": "r1"}, "values": [value]}  # fmt: skip
    d.call("POST", f"{base}/checkpoints", 201, json=put)
    d.call("POST", f"{base}/checkpoints", 201, json=put | {"id": "c2", "parent_id": "c1"})
    writes = {"thread": thread_id, "checkpoint_id": "c2", "task_id": "t",
              "writes": [{"channel": "x", "idx": 0, "value": ["msgpack", "Ag=="]}]}  # fmt: skip
    d.call("POST", f"{base}/checkpoints/writes", 201, json=writes)
    d.call("POST", f"{base}/archive?wait=true", 200)
    got = d.call("GET", f"{base}/checkpoint?ns=", 200).json()
    assert got["id"] == "c2" and got["values"] == {"x": ["msgpack", "AQ=="]}, got
    assert len(d.call("GET", f"{base}/checkpoints?all_ns=true", 200).json()["checkpoints"]) == 2
    copy = {"target_id": f"{thread_id}-copy", "target_thread": f"{thread_id}-copy"}
    d.call("POST", f"{base}/checkpoints/copy", 200, json=copy)
    d.call("POST", f"{base}/checkpoints/prune", 200, json={"strategy": "keep_latest"})
    d.call("POST", "/v1/checkpoints/delete-runs", 200, json={"run_ids": ["r1"]})
    assert d.call("GET", f"{base}/checkpoints", 200).json()["checkpoints"] == []


def _operations(d: _Driver) -> None:
    for url in ("/", "/healthz", "/readyz", "/v1/health", "/metrics", "/openapi.json"):
        d.call("GET", url, 200)


def test_every_route_on_the_cluster_with_threads_on_every_master(
    calls: tuple[Calls, _Driver], redis_cluster: RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    recorded, driver = calls
    ids = one_per_master(redis_cluster, TENANT, "r")
    for thread_id in ids:
        _threads(driver, thread_id)
    driver.run_queued_jobs()  # the three queued archives, on the cluster
    _listing(driver, ids)
    _mcp(driver, ids)
    _search(driver, ids)
    for thread_id in ids:
        driver.call("DELETE", f"/v1/threads/{thread_id}", 204)
    _search(driver, ids, deleted=True)
    _conversations(driver)
    for thread_id in one_per_master(redis_cluster, TENANT, "lg"):
        _checkpoints(driver, thread_id)
    _console(driver, one_per_master(redis_cluster, TENANT, "ui")[0])
    _operations(driver)

    unreached = sorted(set(recorded.routes) - recorded.reached)
    assert not unreached, f"routes no recipe of this test reached (add one): {unreached}"
    assert recorded.problems == []
    assert bad_records(caplog.records) == []
