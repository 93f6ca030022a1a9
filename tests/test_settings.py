"""Settings: read once from the environment; a bad value names its variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from threadkeeper.errors import ConfigError
from threadkeeper.settings import MAX_AUTO_API_PROCESSES, Settings, parse_duration, parse_size


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90), ("15m", 900), ("3h", 10800), ("7d", 604800), ("250ms", 0.25), ("42", 42),
     ("never", None), ("NEVER", None)],
)  # fmt: skip
def test_durations(raw: str, seconds: float | None) -> None:
    assert parse_duration("X", raw) == seconds


@pytest.mark.parametrize(
    ("raw", "size"), [("1MiB", 1 << 20), ("16KiB", 16384), ("8m", 8 << 20), ("12", 12)]
)
def test_sizes(raw: str, size: int) -> None:
    assert parse_size("X", raw) == size


def test_defaults_match_the_design() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.home) == ("127.0.0.1", 8750, Path(".threadkeeper"))
    assert (s.hot_ttl, s.snapshot_idle, s.backup_interval, s.retention) == (86400, 60, 300, None)
    assert (s.limits.max_turn_bytes, s.limits.max_turns) == (1 << 20, 100_000)
    assert (s.limits.max_body_bytes, s.limits.max_metadata_bytes) == (8 << 20, 16 << 10)
    assert s.archive_url is None and s.redis_url is None
    assert s == Settings()  # an empty environment reads the dataclass's own defaults


def test_environment_overrides() -> None:
    s = Settings.from_env(
        {"THREADKEEPER_HOT_TTL": "2h", "THREADKEEPER_RETENTION": "30d",
         "THREADKEEPER_MAX_TURNS": "10", "THREADKEEPER_ARCHIVE_URL": "",
         "THREADKEEPER_PORT": "9000"}
    )  # fmt: skip
    assert (s.hot_ttl, s.retention, s.limits.max_turns, s.port) == (7200, 2592000, 10, 9000)
    assert s.archive_url == "" and not s.archive_configured


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOT_TTL", "soon"), ("MAX_TURNS", "many"), ("MAX_TURNS", "0"), ("PORT", "x"),
     ("MAX_BODY_BYTES", "8 parsecs"), ("SNAPSHOT_IDLE", "never"), ("API_PROCESSES", "0"),
     ("API_PROCESSES", "many"), ("API_PROCESSES", "2.5")],
)  # fmt: skip
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"THREADKEEPER_{name}"):
        Settings.from_env({f"THREADKEEPER_{name}": value})


def test_api_processes_default_to_the_usable_cores_capped() -> None:
    cores = len(os.sched_getaffinity(0))
    assert Settings.from_env({}).api_processes == min(cores, MAX_AUTO_API_PROCESSES)
    auto = Settings.from_env({"THREADKEEPER_API_PROCESSES": "auto"})
    assert auto.api_processes == min(cores, MAX_AUTO_API_PROCESSES)
    assert Settings.from_env({"THREADKEEPER_API_PROCESSES": "6"}).api_processes == 6


def test_a_bad_api_processes_says_what_to_write() -> None:
    with pytest.raises(ConfigError, match="THREADKEEPER_API_PROCESSES='none'.*write auto"):
        Settings.from_env({"THREADKEEPER_API_PROCESSES": "none"})


def test_indexed_metadata_and_metrics_users_are_bounded_lists() -> None:
    env = {"THREADKEEPER_INDEXED_METADATA": " project, env,project ",
           "THREADKEEPER_METRICS_USERS": "acme:alice, acme:bob"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.indexed_metadata == ("project", "env")
    assert settings.metrics_users == (("acme", "alice"), ("acme", "bob"))
    too_many = ",".join(f"k{n}" for n in range(17))
    for name, raw in (("INDEXED_METADATA", too_many), ("METRICS_USERS", "acme"),
                      ("METRICS_USERS", "a:b:c")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"THREADKEEPER_{name}"):
            Settings.from_env({f"THREADKEEPER_{name}": raw})
