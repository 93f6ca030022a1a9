"""A conversation written through the SDK survives the archive, rehydrate, and kill -9."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from openai import OpenAI

from threadkeeper import keys
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.home import Home
from threadkeeper.snapshot import decode_snapshot
from threadkeeper.store.connection import sync_client
from waiting import wait_for

STARTUP_TIMEOUT = 60
SECRET = "the password is swordfish"


def sdk(base: str) -> OpenAI:
    return OpenAI(base_url=f"{base}/v1", api_key="any", _strict_response_validation=True)


def write_conversation(client: OpenAI) -> tuple[str, list[dict[str, Any]]]:
    conv = client.conversations.create(metadata={"who": "survivor"})
    items: list[Any] = [{"role": "user", "content": f"q{i}"} for i in range(12)]
    items[5] = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    items[6] = {"type": "function_call_output", "call_id": "c", "output": "ok"}
    client.conversations.items.create(conv.id, items=items)
    return conv.id, dump(client, conv.id)


def dump(client: OpenAI, conv_id: str) -> list[dict[str, Any]]:
    pages = client.conversations.items.list(conv_id, order="asc", limit=5)
    return [item.model_dump() for item in pages]


def evict(url: str, conv_id: str) -> None:
    """What the hot TTL's lapse does: the turns leave Redis, the metadata hash stays."""
    k = keys.thread_keys("default", conv_id)
    with sync_client(url) as client:
        client.delete(k.turns, k.idempotency)


def archive_now(base: str, conv_id: str) -> None:
    done = httpx.post(f"{base}/v1/threads/{conv_id}/archive?wait=true", timeout=60)
    assert done.status_code == 200 and done.json()["status"] == "archived", done.text


def test_archived_and_rehydrated_conversation_is_intact(live_url: str, redis_url: str) -> None:
    with sdk(live_url) as client:
        conv_id, before = write_conversation(client)
        archive_now(live_url, conv_id)
        evict(redis_url, conv_id)
        assert dump(client, conv_id) == before
        assert client.conversations.retrieve(conv_id).metadata == {"who": "survivor"}
        evict(redis_url, conv_id)  # archived again: a delete rehydrates first
        client.conversations.items.delete(before[3]["id"], conversation_id=conv_id)
        assert dump(client, conv_id) == before[:3] + before[4:]


def test_items_lost_with_the_archive_behind_are_named(live_url: str, redis_url: str) -> None:
    with sdk(live_url) as client:
        conv = client.conversations.create(items=[{"role": "user", "content": "kept"}])
        archive_now(live_url, conv.id)
        client.conversations.items.create(conv.id, items=[{"role": "user", "content": "lost"}])
        evict(redis_url, conv.id)  # Redis lost the turns; the archive holds only the first
        page = client.conversations.items.with_raw_response.list(conv.id)
        assert page.headers["Threadkeeper-Degraded"] == "missing-turns=2-2"
        assert [x.content[0].text for x in page.parse().data] == ["kept"]


def test_a_deleted_item_leaves_the_archive_after_the_next_snapshot(
    live_url: str, tmp_path: Path
) -> None:
    with sdk(live_url) as client:
        conv = client.conversations.create(items=[{"role": "user", "content": SECRET},
                                                  {"role": "user", "content": "keep"}])  # fmt: skip
        archive_now(live_url, conv.id)
        assert any(SECRET in text for text in archived_texts(tmp_path / "archive"))
        first = next(iter(client.conversations.items.list(conv.id, order="asc")))
        client.conversations.items.delete(first.id, conversation_id=conv.id)
        archive_now(live_url, conv.id)
    texts = archived_texts(tmp_path / "archive")
    assert texts and not any(SECRET in text for text in texts)
    assert any("keep" in text for text in texts)


def archived_texts(root: Path) -> list[str]:
    """Every turn of every snapshot object in a file archive, as text."""
    found = []
    for path in root.rglob("*.tks"):
        snap = decode_snapshot(path.read_bytes(), max_bytes=1 << 30, max_turns=1 << 20)
        found += [blob.decode(errors="replace") for blob in snap.turns]
    return found


class Up:
    """`threadkeeper up` in a session of its own; `kill9` takes the whole daemon."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEPER_")}
        args = [sys.executable, "-m", "threadkeeper", "up", "--home", str(home),
                "--port", str(self.port)]  # fmt: skip
        self.log = (home.parent / f"up-{self.port}.log").open("wb")
        out = {"stdout": self.log, "stderr": subprocess.STDOUT}
        self.process = subprocess.Popen(args, env=env, start_new_session=True, **out)
        self._wait_ready()

    def _wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, f"threadkeeper up exited: {self.output()}"
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200

        wait_for(ready, "threadkeeper up to be ready", timeout=STARTUP_TIMEOUT, interval=0.2,
                 ignoring=(httpx.TransportError,), detail=self.output)  # fmt: skip

    def output(self) -> str:
        return (self.home.parent / f"up-{self.port}.log").read_text(errors="replace")[-3000:]

    def kill9(self) -> None:
        """kill -9 of up and of every process it runs (each child has its own session)."""
        info = json.loads(Home(self.home).run_file.read_text())
        groups = [self.process.pid, *info["children"].values(), info.get("redis_pid")]
        for pgid in filter(None, groups):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()


def redis_gone(url: str, timeout: float = 30) -> bool:
    def refused() -> bool:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
                client.ping()
        except redis.ConnectionError:
            return True
        return False

    return wait_for(refused, "", timeout=timeout, fail=False)


@pytest.fixture
def ups(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            up.kill9()


@pytest.mark.fault
@pytest.mark.timeout(240)
def test_conversation_survives_kill9_of_the_whole_daemon(tmp_path: Path, ups: list[Up]) -> None:
    home = tmp_path / "home"
    ups.append(Up(home))
    with sdk(ups[0].base) as client:
        conv_id, before = write_conversation(client)
    redis_url = json.loads(Home(home).run_file.read_text())["redis_url"]
    ups[0].kill9()
    assert redis_gone(redis_url)  # its redis-server died with it
    ups.append(Up(home))
    with sdk(ups[1].base) as client:
        assert dump(client, conv_id) == before
        assert client.conversations.retrieve(conv_id).metadata == {"who": "survivor"}
