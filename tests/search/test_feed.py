"""The change feed: every write path records an event with ids only, on the thread's
bucket; what a lost event leaves behind, the indexer's sweep repairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from starlette.testclient import TestClient

from local_client import local_client
from search_support import index_now
from threadkeeper import keys
from threadkeeper.api import create_app
from threadkeeper.settings import Settings
from threadkeeper.store.connection import sync_client

TURN = [{"role": "user", "content": "a kingfisher by the river"}]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with local_client(create_app(settings)) as client:
        yield client


@pytest.fixture
def hot(settings: Settings) -> Iterator[redis.Redis]:
    client = sync_client(settings.redis_url or "")
    yield client
    client.close()


def events(hot: redis.Redis) -> list[dict[bytes, bytes]]:
    found = []
    for bucket in keys.BUCKETS:
        found += [fields for _, fields in hot.xrange(keys.feed_stream(bucket))]
    return found


def test_every_write_path_records_ids_only_on_the_threads_bucket(
    api: TestClient, hot: redis.Redis
) -> None:
    api.post("/v1/threads", json={"id": "k", "turns": TURN})
    api.post("/v1/threads/k/turns", json={"turns": TURN})
    api.patch("/v1/threads/k/turns/1", json={"content": "a heron"})
    api.patch("/v1/threads/k", json={"title": "birds"})
    api.delete("/v1/threads/k/turns/2")
    api.delete("/v1/threads/k")
    kinds = [e[b"k"] for e in events(hot)]
    # A cluster's pipeline re-sent after NOSCRIPT repeats its event: harmless, so allowed.
    once = [kind for n, kind in enumerate(kinds) if n == 0 or kinds[n - 1] != kind]
    assert once == [b"create", b"append", b"edit", b"meta", b"edit", b"delete"]
    assert all(set(e) == {b"t", b"i", b"s", b"k"} for e in events(hot))  # no text
    assert {(e[b"t"], e[b"i"]) for e in events(hot)} == {(b"default", b"k")}
    bucket = keys.thread_keys("default", "k").feed
    assert hot.xlen(bucket) == len(kinds)


def test_a_lost_event_is_repaired_by_the_sweep(
    api: TestClient, hot: redis.Redis, settings: Settings
) -> None:
    """On a cluster the event follows the script; a crash between them loses it."""
    api.post("/v1/threads", json={"id": "gone", "turns": TURN})
    api.post("/v1/threads", json={"id": "grows", "turns": TURN})
    index_now(settings)
    api.delete("/v1/threads/gone")
    api.post("/v1/threads/grows/turns", json={"turns": [{"role": "user", "content": "otter"}]})
    for bucket in keys.BUCKETS:
        hot.delete(keys.feed_stream(bucket))  # both events lost
    index_now(settings)
    assert search(api, "kingfisher") == {"gone", "grows"}  # stale, until...
    index_now(settings, sweep=True)
    assert search(api, "kingfisher") == {"grows"}
    assert search(api, "otter") == {"grows"}


def search(api: TestClient, q: str) -> set[str]:
    body = api.get("/v1/search", params={"q": q}).json()
    return {h["thread_id"] for h in body["results"]}


def test_with_the_feed_off_writes_record_nothing(
    make_settings: Callable[..., Settings], hot: redis.Redis
) -> None:
    with local_client(create_app(make_settings(search_feed=False))) as client:
        assert client.post("/v1/threads", json={"id": "k", "turns": TURN}).status_code == 201
        more = {"turns": TURN}
        assert client.post("/v1/threads/k/turns", json=more).status_code == 201
    assert events(hot) == []
