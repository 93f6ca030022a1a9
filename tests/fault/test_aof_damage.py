"""A torn AOF tail loads (aof-load-truncated); a corrupt AOF stops Redis and health says what
to run; the runbook's `redis-check-aof --fix` then brings it back."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from threadkeeper.cli import main
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.errors import ConfigError

pytestmark = pytest.mark.fault


def fill(server: ManagedRedis, count: int = 50) -> None:
    conn = redis.Redis.from_url(server.url)
    for n in range(count):
        conn.hset(f"tk:test:{n}", mapping={"n": n, "pad": "x" * 100})
    conn.close()


def redis_log(server: ManagedRedis) -> str:
    return server.log_path.read_text(errors="replace")


def incr_file(server: ManagedRedis) -> Path:
    (path,) = (server.data_dir / "appendonly").glob("*.incr.aof")
    return path


def health(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> tuple[int, str]:
    monkeypatch.setenv("THREADKEEPER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("THREADKEEPER_REDIS_URL", url)
    monkeypatch.setenv("THREADKEEPER_ARCHIVE_URL", (tmp_path / "archive").as_uri())
    result = CliRunner().invoke(main, ["health"])
    return result.exit_code, result.output


def test_torn_tail_loads_and_health_is_not_failing(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_redis()
    fill(server)
    server.stop()
    path = incr_file(server)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - 7)  # the last command, cut mid-write
    server.start()
    assert "loaded anyway because aof-load-truncated is enabled" in redis_log(server)
    conn = redis.Redis.from_url(server.url)
    assert conn.hget("tk:test:0", "n") == b"0"  # everything before the torn command is there
    assert conn.exists("tk:test:49") == 0  # the torn one is dropped
    code, output = health(monkeypatch, tmp_path, server.url)
    assert "status: FAILING" not in output and code != 2, output
    assert "aof=yes" in output and "last_aof_write=ok" in output


def test_corrupt_aof_stops_redis_and_health_gives_the_runbook(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_redis()
    fill(server)
    server.stop()
    path = incr_file(server)
    data = bytearray(path.read_bytes())
    starts = [i + 2 for i in range(len(data) - 2) if data[i : i + 3] == b"\r\n*"]
    middle = starts[len(starts) // 2]
    data[middle : middle + 1] = b"!"  # a command marker in the middle becomes garbage
    path.write_bytes(bytes(data))

    with pytest.raises(ConfigError, match="exited at start"):
        server.start()
    assert "Bad file format reading the append only file" in redis_log(server)

    code, output = health(monkeypatch, tmp_path, server.url)
    assert code == 2, output
    assert "status: FAILING" in output
    assert "redis-check-aof --fix" in output and "threadkeeper recover" in output

    (manifest,) = (server.data_dir / "appendonly").glob("*.manifest")
    fixed = subprocess.run(["redis-check-aof", "--fix", str(manifest)], input=b"y\n",
                           capture_output=True, timeout=60, check=False)  # fmt: skip
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    server.start()
    conn = redis.Redis.from_url(server.url)
    assert conn.hget("tk:test:0", "n") == b"0"  # what came before the damage is back
    code, output = health(monkeypatch, tmp_path, server.url)
    assert code != 2, output
