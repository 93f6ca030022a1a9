"""Each error type, typed from the live daemon's problem+json, and degraded answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from client_live import LiveServer, Serve

from threadkeeper import keys
from threadkeeper.auth import add_token
from threadkeeper.client import (
    Client,
    InvalidRequest,
    LimitExceeded,
    StoreFull,
    ThreadExists,
    ThreadkeeperError,
    ThreadNotFound,
    Unauthorized,
    Unavailable,
    VersionConflict,
)  # fmt: skip
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.settings import Limits

HI = {"role": "user", "content": "hi"}


@pytest.fixture
def tk(live: LiveServer) -> Iterator[Client]:
    with Client(live.url) as client:
        yield client


def test_never_stored(tk: Client) -> None:
    with pytest.raises(ThreadNotFound) as missing:
        tk.get("nobody")
    err = missing.value
    assert (err.reason, err.thread_id, err.deleted_at, err.status) == (
        "never_stored", "nobody", None, 404,
    )  # fmt: skip
    assert "check the id" in err.detail and isinstance(err, ThreadkeeperError)


def test_lost_in_a_restart_without_data(tk: Client, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).hset(keys.CANARY, mapping={
        "data_survived": "0", "last_restart_at": 1_700_000_000_000,
        "data_lost_at": 1_700_000_000_000,
    })  # fmt: skip
    with pytest.raises(ThreadNotFound) as missing:
        tk.turns("gone").__next__()
    assert missing.value.reason == "lost"
    assert missing.value.data_lost_at is not None
    assert missing.value.data_lost_at.isoformat() == "2023-11-14T22:13:20+00:00"
    assert missing.value.data_lost_on is None  # a standalone Redis: no master to name


def test_removed_by_retention(tk: Client, redis_url: str) -> None:
    tk.create(id="old", turns=[HI])
    tk.delete("old")
    tombstone = keys.thread_keys("default", "old").tombstone
    redis.Redis.from_url(redis_url).hset(tombstone, "reason", "retention")
    with pytest.raises(ThreadNotFound) as gone:
        tk.context("old", max_tokens=10)
    assert gone.value.reason == "retention" and gone.value.deleted_at is not None


def test_exists_and_version_conflict(tk: Client) -> None:
    tk.create(id="x", turns=[HI])
    with pytest.raises(ThreadExists):
        tk.create(id="x", turns=[HI])
    tk.append("x", [HI], expected_version=1)
    with pytest.raises(VersionConflict) as stale:
        tk.append("x", [HI], expected_version=1)
    assert stale.value.current_version == 2


def test_limit_carries_setting_and_limit(serve: Serve) -> None:
    live = serve(limits=Limits(max_turn_bytes=64))
    with Client(live.url) as tk, pytest.raises(LimitExceeded) as big:
        tk.create(id="big", turns=[{"role": "user", "content": "x" * 100}])
    assert (big.value.setting, big.value.limit, big.value.status) == (
        "THREADKEEPER_MAX_TURN_BYTES", 64, 413,
    )  # fmt: skip
    assert isinstance(big.value, InvalidRequest)


def test_a_key_reused_for_another_body_is_an_invalid_request(tk: Client) -> None:
    tk.create(id="k", turns=[HI])
    tk.append("k", [HI], idempotency_key="once")
    with pytest.raises(InvalidRequest) as reused:
        tk.append("k", [{"role": "user", "content": "other"}], idempotency_key="once")
    assert reused.value.status == 422


def test_store_full(tk: Client, redis_url: str) -> None:
    tk.create(id="full", turns=[HI])
    admin = redis.Redis.from_url(redis_url)
    admin.config_set("maxmemory", "1")
    try:
        with pytest.raises(StoreFull) as full:
            tk.append("full", [HI])
    finally:
        admin.config_set("maxmemory", "0")
    assert full.value.status == 507 and "maxmemory" in full.value.detail
    assert [t.seq for t in tk.turns("full")] == [1]


def test_unauthorized(serve: Serve, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    _, token = add_token(path, "alice")
    live = serve(tokens_file=path)
    with Client(live.url, token="wrong") as bad, pytest.raises(Unauthorized):
        bad.get("any")
    with Client(live.url, token=token) as good:
        assert good.create(id="mine", turns=[HI]).tenant == "alice"


def test_unreachable_is_unavailable_with_a_known_outcome() -> None:
    from threadkeeper.client import Retries

    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=Retries(attempts=2, backoff=0.01)) as tk:
        with pytest.raises(Unavailable) as down:
            tk.append("t", [HI])
    assert down.value.outcome_unknown is False and down.value.status == 0


def test_degraded_answers_carry_missing_turns(tk: Client, redis_url: str) -> None:
    tk.create(id="lossy", turns=[HI, HI, HI])
    redis.Redis.from_url(redis_url).delete(keys.thread_keys("default", "lossy").turns)
    assert tk.get("lossy").missing_turns == (1, 3)
    page = tk.page("lossy")
    assert page.missing_turns == (1, 3) and page.turns == []
    assert tk.context("lossy", max_tokens=100).missing_turns == (1, 3)
