"""kill -9 of the whole daemon (`up`, its Redis, worker and cron) mid-life: a fresh process
resumes the LangGraph thread from the restarted daemon."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from langgraph_support import chat, heard

from daemon_support import Daemon, wait_gone

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]


def test_a_thread_survives_kill_9_of_the_whole_daemon(tmp_path: Path) -> None:
    first = Daemon(tmp_path / "home").start()
    second = Daemon(tmp_path / "home")
    try:
        said = chat(first.base, "one", "two", "three")
        assert said[-1] == ["ai", heard("one", "two", "three")]
        assert first.process is not None
        for pid in first.pids.values():  # the whole tree, as an OOM killer or a crash would
            os.kill(pid, signal.SIGKILL)
        first.process.wait(60)
        assert not any(wait_gone(pid) for pid in first.pids.values())

        second.start()
        said = chat(second.base, "four")
        assert said[-1] == ["ai", heard("one", "two", "three", "four")] and len(said) == 8
    finally:
        second.close()
        first.close()
