"""GET /metrics: counters by route template, lookups by tier, gauges read from Redis."""

from __future__ import annotations

import time

from health_helpers import MakeClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from threadkeeper import keys, metrics
from threadkeeper.store.connection import sync_client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_and_domain_counters(make_client: MakeClient) -> None:
    client = make_client()
    before = scrape(client)
    turn = {"role": "user", "content": "hi"}
    assert client.post("/v1/threads", json={"id": "m1", "turns": [turn]}).status_code == 201
    assert client.post("/v1/threads/m1/fork", json={"at_seq": 1}).status_code == 201
    for n in range(3):
        r = client.post("/v1/threads/m1/turns", json={"turns": [turn, turn]},
                        headers={"Idempotency-Key": f"k{n}"})  # fmt: skip
        assert r.status_code == 201
    replay = client.post("/v1/threads/m1/turns", json={"turns": [turn, turn]},
                         headers={"Idempotency-Key": "k0"})  # fmt: skip
    assert replay.status_code == 200
    assert client.get("/v1/threads/m1").status_code == 200
    assert client.get("/v1/threads/never-here").status_code == 404
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/v1/threads/{thread_id}/turns"
    assert delta("threadkeeper_http_requests_total", route=route, method="POST", status="201") == 3
    assert delta("threadkeeper_http_requests_total", route=route, method="POST", status="200") == 1
    read = "/v1/threads/{thread_id}"
    assert delta("threadkeeper_http_requests_total", route=read, method="GET", status="404") == 1
    assert delta("threadkeeper_http_request_seconds_count", route=route, method="POST") == 4
    assert not [k for k in after if ("route", "/v1/threads/m1") in k[1]]  # templates, not paths
    assert delta("threadkeeper_appended_turns_total") == 6  # the replay appended nothing
    # The fork's read of its parent and the GET: a create or fork answers from what it
    # stored, without reading it back.
    assert delta("threadkeeper_lookups_total", source="hot") == 2


def test_unmatched_paths_share_one_label(make_client: MakeClient) -> None:
    client = make_client()
    before = scrape(client)
    for n in range(3):
        assert client.get(f"/no/such/path/{n}").status_code == 404
    after = scrape(client)
    labels = {"route": "<unmatched>", "method": "GET", "status": "404"}
    name = "threadkeeper_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 3


def test_gauges_are_read_from_redis_at_scrape(make_client: MakeClient, redis_url: str) -> None:
    client = make_client(hot_ttl=3600.0)
    turn = {"role": "user", "content": "x"}
    for n in range(4):
        assert client.post("/v1/threads", json={"id": f"g{n}", "turns": [turn]}).status_code == 201
    conn = sync_client(redis_url)
    old = int(time.time() * 1000) - 7200_000  # untouched for two hours: past the hot TTL
    conn.zadd(keys.thread_keys("default", "g3").activity, {"default:g3": old})
    conn.hset(keys.SWEEPER_HEARTBEAT, mapping={"last_run": old, "lag_ms": 4200})
    samples = scrape(client)
    assert value(samples, "threadkeeper_threads", tier="hot") == 3
    assert value(samples, "threadkeeper_threads", tier="archived") == 1
    assert value(samples, "threadkeeper_dirty_threads") == 4
    assert value(samples, "threadkeeper_sweeper_lag_seconds") == 4.2


def test_worker_counters_reach_the_api(make_client: MakeClient, redis_url: str) -> None:
    client = make_client()
    before = scrape(client)
    worker_conn = sync_client(redis_url)  # as a worker process holds it (jobs.py)
    for _ in range(3):
        metrics.record_snapshot("archived", worker_conn)
    metrics.record_snapshot("moved", worker_conn)
    metrics.record_archive_failure("put", worker_conn)
    metrics.record_snapshot("archived")  # in this process: counted locally, not twice
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("threadkeeper_snapshots_total", outcome="archived") == 4
    assert delta("threadkeeper_snapshots_total", outcome="moved") == 1
    assert delta("threadkeeper_archive_failures_total", operation="put") == 1
    assert worker_conn.hgetall(metrics.WORKER_COUNTERS) == {
        b"snapshots:archived": b"3",
        b"snapshots:moved": b"1",
        b"archive_failures:put": b"1",
    }


def test_threads_per_user_only_for_the_users_named(make_client: MakeClient) -> None:
    client = make_client(metrics_users=(("default", "alice"), ("default", "carol")))
    for n, user in enumerate(("alice", "alice", "bob", "alice")):
        body = {"id": f"u{n}", "user_id": user}
        assert client.post("/v1/threads", json=body).status_code == 201
    client.delete("/v1/threads/u1")
    samples = scrape(client)
    name = "threadkeeper_user_threads"
    assert value(samples, name, tenant="default", user="alice") == 2
    assert ((name, (("tenant", "default"), ("user", "carol"))) in samples) is True
    assert not any(key[0] == name and ("user", "bob") in key[1] for key in samples)
