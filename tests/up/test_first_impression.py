"""What `up` prints: one log format, the banner once the port is bound, no access log by default."""

from __future__ import annotations

import re
from collections.abc import Callable

from daemon_support import Daemon, clean_env

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")


def _records(output: str) -> list[str]:
    """Log lines (a multi-line message's continuation lines are indented)."""
    return [line for line in output.splitlines() if line and not line.startswith(" ")]


def test_one_log_format_and_a_banner_with_next_steps(daemon: Daemon) -> None:
    daemon.client().get("/v1/threads")
    assert daemon.stop() == 0
    records = _records(daemon.output())
    odd = [line for line in records if not RECORD.match(line)]
    assert odd == []  # uvicorn's own "INFO:     ..." format would show here
    said = daemon.output()
    banner = said.index("threadkeeper is up")
    assert said.index("Application startup complete") < banner
    assert "curl -s -X POST" in said and "threadkeeper health --home" in said
    assert "GET /v1/threads" not in said  # the per-request access log is off by default


def test_the_access_log_is_a_setting(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon().start(env=clean_env(THREADKEEPER_ACCESS_LOG="on"))
    daemon.client().get("/v1/threads")
    assert daemon.stop() == 0
    assert re.search(r'"GET /v1/threads HTTP/1.1" 200', daemon.output())
