"""The judging rules, pure: facts in, status and warnings out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from threadkeeper.health import Facts, RedisFacts, Status, judge
from threadkeeper.health.children import ChildState
from threadkeeper.metrics import sweeper_lag_s
from threadkeeper.store.canary import RestartReport

NOW = 1_800_000_000_000

GOOD_REDIS = RedisFacts(
    version="7.0.15", loading=False, loading_percent=0.0, aof=True, appendfsync="always",
    rdb_saves=True, last_aof_write="ok", last_aof_rewrite="ok", last_bgsave="ok",
    aof_delayed_fsync=0, changes_since_last_save=3, last_save_at=NOW - 1000,
    eviction_policy="noeviction", maxmemory=0, used_memory=10 << 20,
    total_system_memory=8 << 30,
)  # fmt: skip
GOOD = Facts(
    redis_url="redis://127.0.0.1:6390/0", redis=GOOD_REDIS,
    restart=RestartReport("abc", NOW - 5000, None, None, None),
    archive_url="file:///tmp/archive", archive_reachable=True, workers_alive=1,
    sweeper_lag_s=2.0, sweeper_last_run=NOW - 3000, now=NOW,
)  # fmt: skip


def redis_with(**changes: object) -> Facts:
    return replace(GOOD, redis=replace(GOOD_REDIS, **changes))  # type: ignore[arg-type]


def test_healthy_is_ok_without_warnings() -> None:
    report = judge(GOOD)
    assert report.status is Status.OK
    assert report.warnings == ()
    assert report.exit_code == 0
    body = report.public()
    assert body["status"] == "ok"
    assert body["durability"]["loss_window"] == "none"
    assert body["durability"]["memory_used_ratio"] == round((10 << 20) / (8 << 30), 6)
    assert body["restart"]["redis_run_id"] == "abc"
    assert body["workers"] == {"alive": 1, "queue": "threadkeeper", "sweeper_lag_s": 2.0,
                               "sweeper_last_run": "2027-01-15T07:59:57.000Z",
                               "purges_owed": 0}  # fmt: skip


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "volatile-ttl", "allkeys-lfu"])
def test_any_eviction_policy_is_failing(policy: str) -> None:
    report = judge(redis_with(eviction_policy=policy))
    assert report.status is Status.FAILING and report.exit_code == 2
    (warning,) = report.warnings
    assert policy in warning and "maxmemory-policy noeviction" in warning


def test_aof_off_is_degraded_and_says_what_to_set() -> None:
    report = judge(redis_with(aof=False, rdb_saves=False))
    assert report.status is Status.DEGRADED and report.exit_code == 1
    assert report.public()["durability"]["loss_window"] == "all-since-last-save"
    (warning,) = report.warnings
    assert "appendonly yes" in warning and "RDB snapshots are off too" in warning


def test_appendfsync_no_is_degraded() -> None:
    report = judge(redis_with(appendfsync="no"))
    assert report.status is Status.DEGRADED
    assert report.public()["durability"]["loss_window"] == "30s"
    assert any("appendfsync always" in w for w in report.warnings)


def test_everysec_is_ok_with_a_one_second_window_and_the_waitaof_note_on_7_0() -> None:
    report = judge(redis_with(appendfsync="everysec"))
    assert report.status is Status.OK
    assert report.public()["durability"]["loss_window"] == "1s"
    (warning,) = report.warnings
    assert "WAITAOF" in warning and "7.2" in warning
    assert judge(redis_with(appendfsync="everysec", version="7.2.4")).warnings == ()


def test_redis_older_than_7_is_degraded() -> None:
    report = judge(redis_with(version="6.2.14"))
    assert report.status is Status.DEGRADED
    assert any("older than 7.0" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("field", "status", "words"),
    [
        ("last_aof_write", Status.FAILING, "aof_last_write_status"),
        ("last_bgsave", Status.FAILING, "rdb_last_bgsave_status"),
        ("last_aof_rewrite", Status.DEGRADED, "aof_last_bgrewrite_status"),
    ],
)
def test_persistence_errors(field: str, status: Status, words: str) -> None:
    report = judge(redis_with(**{field: "err"}))
    assert report.status is status
    assert any(words in w for w in report.warnings)


def test_delayed_fsync_warns_without_degrading() -> None:
    report = judge(redis_with(aof_delayed_fsync=4))
    assert report.status is Status.OK
    assert any("late 4 times" in w for w in report.warnings)


def test_loading_is_degraded() -> None:
    report = judge(redis_with(loading=True, loading_percent=42.0))
    assert report.status is Status.DEGRADED
    assert any("loading its data (42% done)" in w for w in report.warnings)


def test_memory_near_maxmemory_is_degraded() -> None:
    report = judge(redis_with(maxmemory=100 << 20, used_memory=95 << 20))
    assert report.status is Status.DEGRADED
    assert report.public()["durability"]["memory_used_ratio"] == 0.95
    assert any("95% of maxmemory" in w and "507" in w for w in report.warnings)


def test_unreachable_redis_is_failing_with_the_runbook() -> None:
    facts = replace(GOOD, redis=None, restart=None, redis_error="Connection refused")
    report = judge(facts)
    assert report.status is Status.FAILING
    (warning,) = report.warnings
    assert "Connection refused" in warning
    assert "redis-check-aof --fix" in warning and "threadkeeper recover" in warning
    assert report.public()["durability"]["aof"] is None
    assert report.public()["redis"]["reachable"] is False


def test_restart_that_lost_data_is_reported() -> None:
    lost = RestartReport("new", NOW - 9000, NOW - 1000, False, NOW - 1000)
    report = judge(replace(GOOD, restart=lost))
    assert report.public()["restart"]["data_survived_last_restart"] is False
    assert report.public()["restart"]["last_restart_at"] == "2027-01-15T07:59:59.000Z"
    assert any("WITHOUT its data" in w for w in report.warnings)


def test_cache_only_and_archive_down_are_degraded() -> None:
    cache = judge(replace(GOOD, archive_url=None, archive_reachable=None))
    assert cache.status is Status.DEGRADED
    assert any("THREADKEEPER_ARCHIVE_URL" in w for w in cache.warnings)
    down = judge(replace(GOOD, archive_reachable=False, archive_error="no such bucket"))
    assert down.status is Status.DEGRADED
    assert any("no such bucket" in w for w in down.warnings)


def test_workers_and_sweeper() -> None:
    assert judge(replace(GOOD, workers_alive=0)).status is Status.DEGRADED
    assert judge(replace(GOOD, workers_alive=None)).status is Status.OK  # unknown: no verdict
    never = judge(replace(GOOD, sweeper_last_run=None, sweeper_lag_s=None))
    assert any("never run" in w for w in never.warnings)
    silent = judge(replace(GOOD, sweeper_last_run=NOW - 600_000))
    assert any("last ran 600 s ago" in w for w in silent.warnings)
    behind = judge(replace(GOOD, sweeper_lag_s=3600.0))
    assert behind.status is Status.DEGRADED
    assert any("3600 s old" in w for w in behind.warnings)
    assert judge(replace(GOOD, sweeper_lag_s=200.0)).status is Status.OK  # within backup interval


def test_owed_archive_purges_are_degraded_and_say_why() -> None:
    owed = judge(replace(GOOD, purges_owed=3))
    assert owed.status is Status.DEGRADED
    assert any("3 deleted thread(s)" in w and "recover" in w for w in owed.warnings)
    assert owed.public()["workers"]["purges_owed"] == 3


def test_open_bind_without_tokens_is_failing() -> None:
    report = judge(replace(GOOD, host="0.0.0.0"))
    assert report.status is Status.FAILING
    assert any("THREADKEEPER_TOKENS_FILE" in w for w in report.warnings)
    assert judge(replace(GOOD, host="0.0.0.0", auth_enabled=True)).status is Status.OK


def test_worst_finding_wins() -> None:
    facts = replace(redis_with(aof=False, eviction_policy="allkeys-lru"), workers_alive=0)
    report = judge(facts)
    assert report.status is Status.FAILING
    assert len(report.warnings) == 3


def test_sweeper_lag_from_heartbeat() -> None:
    assert sweeper_lag_s({}) is None
    assert sweeper_lag_s({"last_run": "1", "lag_ms": "2500"}) == 2.5


def _child(**changes: object) -> ChildState:
    worker = ChildState(name="worker", pid=42, running=True, deaths=0, last_exit=None,
                        last_exit_at=None, restart_at=None, log="/logs/worker.log")  # fmt: skip
    return replace(worker, **changes)  # type: ignore[arg-type]


def test_a_child_of_up_that_died_is_named_with_its_count_and_last_exit() -> None:
    assert judge(replace(GOOD, children=(_child(),))).warnings == ()
    down = _child(running=False, deaths=7, last_exit="killed by SIGKILL",
                  last_exit_at=NOW - 2000, restart_at=NOW + 4000)  # fmt: skip
    report = judge(replace(GOOD, children=(down,)))
    assert report.status is Status.DEGRADED
    (said,) = report.warnings
    assert "the worker died 7 times (last: killed by SIGKILL 2 s ago), down, back in 4 s" in said
    assert "/logs/worker.log" in said and "API and Redis keep serving" in said
    assert report.public()["children"][0]["deaths"] == 7
    running = judge(replace(GOOD, children=(replace(down, running=True, restart_at=None),)))
    assert running.status is Status.OK  # back up: a note, not a verdict
    assert "running again (pid 42)" in running.warnings[0]


@pytest.mark.parametrize(
    ("built", "lag", "status"),
    [(None, None, Status.OK), (False, None, Status.OK), (True, 0.0, Status.OK),
     (True, 59.0, Status.OK), (True, 600.0, Status.DEGRADED)],
)  # fmt: skip
def test_a_search_index_far_behind_is_degraded(
    built: bool | None, lag: float | None, status: Status
) -> None:
    report = judge(replace(GOOD, search_built=built, search_lag_s=lag))
    assert report.status is status
    assert report.public()["search"] == {"built": built, "lag_seconds": lag}
    if status is Status.DEGRADED:
        assert "threadkeeper indexer" in report.warnings[0]
