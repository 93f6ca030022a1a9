"""Archive now / rehydrate now over HTTP, and reads of evicted threads, on both archives."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import pytest
import zstandard
from rq.job import Job
from rq.serializers import JSONSerializer
from starlette.testclient import TestClient
from tiering_support import Backend

from local_client import local_client
from threadkeeper import keys
from threadkeeper.api import create_app
from threadkeeper.jobs.queue import make_queue
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.snapshot import MAGIC
from threadkeeper.tiering import archive_access

T = TypeVar("T")


@dataclass
class Api:
    client: TestClient
    runtime: Runtime
    backend: Backend

    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a coroutine on the app's own event loop (its Redis pool lives there)."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(func, *args)

    def evict(self, thread_id: str) -> None:
        """What the hot TTL's lapse does: the turns and dedupe records go, the hash stays."""
        k = keys.thread_keys("default", thread_id)
        self.call(self.runtime.redis.delete, k.turns, k.idempotency)

    def pttl(self, thread_id: str) -> int:
        return int(self.call(self.runtime.redis.pttl, keys.thread_keys("default", thread_id).turns))


@pytest.fixture
def api(make_settings: Callable[..., Settings], backend: Backend) -> Iterator[Api]:
    settings = make_settings()
    runtime = build_runtime(settings, archive=backend.archive)
    with local_client(create_app(settings, runtime)) as client:
        api = Api(client, runtime, backend)
        yield api
        api.call(runtime.close)


def create(api: Api, thread_id: str, n: int = 3) -> dict[str, Any]:
    turns = [{"role": "user", "content": f"turn {i}", "model": "m"} for i in range(1, n + 1)]
    response = api.client.post("/v1/threads", json={"id": thread_id, "turns": turns})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_archived_evicted_thread_reads_back_identical_from_the_archive(api: Api) -> None:
    create(api, "t1", n=4)
    before = api.client.get("/v1/threads/t1").json()

    done = api.client.post("/v1/threads/t1/archive?wait=true")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "archived"
    assert done.json()["thread"]["archived_version"] == before["thread"]["version"]
    assert api.pttl("t1") > 0  # clean now: the hot TTL applies
    assert len(api.backend.snapshots("t1")) == 1

    api.evict("t1")
    cold = api.client.get("/v1/threads/t1")
    assert cold.status_code == 200, cold.text
    assert cold.headers["Threadkeeper-Source"] == "archive"
    assert cold.json()["turns"] == before["turns"]
    assert cold.json()["thread"]["version"] == before["thread"]["version"]
    hot = api.client.get("/v1/threads/t1")
    assert hot.headers["Threadkeeper-Source"] == "redis"
    assert hot.json()["turns"] == before["turns"]


def test_append_to_an_archived_thread_rehydrates_it_first(api: Api) -> None:
    create(api, "t1", n=2)
    api.client.post("/v1/threads/t1/archive?wait=true")
    api.evict("t1")

    appended = api.client.post("/v1/threads/t1/turns", json={"turns": [
        {"role": "assistant", "content": "after the archive"}]})  # fmt: skip
    assert appended.status_code == 201, appended.text
    assert appended.json()["seqs"] == [3]

    read = api.client.get("/v1/threads/t1").json()
    assert [t["content"] for t in read["turns"]] == ["turn 1", "turn 2", "after the archive"]
    assert read["thread"]["version"] > read["thread"]["archived_version"]
    assert api.pttl("t1") == -1  # dirty again: no TTL


def test_rehydrate_now_brings_turns_back(api: Api) -> None:
    create(api, "t1")
    api.client.post("/v1/threads/t1/archive?wait=true")
    api.evict("t1")
    response = api.client.post("/v1/threads/t1/rehydrate")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "restored"
    assert response.json()["thread"]["state"] == "hot"
    assert api.pttl("t1") > 0
    again = api.client.post("/v1/threads/t1/rehydrate")
    assert again.json()["status"] == "present"


def test_archive_without_wait_queues_one_json_job_per_version(api: Api) -> None:
    create(api, "t1")
    first = api.client.post("/v1/threads/t1/archive")
    second = api.client.post("/v1/threads/t1/archive")
    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "queued"
    assert second.json()["status"] == "already_queued"
    assert second.json()["job_id"] == first.json()["job_id"]

    settings = api.runtime.settings
    queue = make_queue(settings)
    try:
        assert queue.job_ids == [first.json()["job_id"]]
        job = Job.fetch(first.json()["job_id"], connection=queue.connection,
                        serializer=JSONSerializer)  # fmt: skip
        assert job.func_name == "threadkeeper.jobs.tasks.archive_batch"
        assert job.args == [["default:t1"]]  # ids only
        assert job.retries_left == 5
    finally:
        queue.connection.close()


def test_archive_and_rehydrate_of_an_unknown_thread_are_404(api: Api) -> None:
    for path in ("/v1/threads/nope/archive", "/v1/threads/nope/rehydrate"):
        response = api.client.post(path)
        assert response.status_code == 404
        assert response.json()["reason"] == "never_stored"


def _bomb_in_place_of(snapshot: bytes, raw_len: int) -> bytes:
    """The same header, honest about a body of `raw_len` zeros compressed to a few KB."""
    header_len = struct.unpack_from(">I", snapshot, len(MAGIC) + 1)[0]
    start = len(MAGIC) + 5
    header = msgpack.unpackb(snapshot[start : start + header_len])
    compressor = zstandard.ZstdCompressor().compressobj()
    zeros = b"\0" * (1 << 20)
    body = b"".join(compressor.compress(zeros) for _ in range(raw_len >> 20)) + compressor.flush()
    header |= {"body_len": len(body), "body_raw_len": raw_len}
    header["body_sha256"] = hashlib.sha256(body).hexdigest()
    packed: bytes = msgpack.packb(header)
    return snapshot[: len(MAGIC) + 1] + struct.pack(">I", len(packed)) + packed + body


def test_a_snapshot_bomb_is_refused_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(api, "t1")
    api.client.post("/v1/threads/t1/archive?wait=true")
    (key,) = api.backend.snapshots("t1")
    bomb = _bomb_in_place_of(api.backend.archive.get(key, 1 << 20), 256 << 20)
    api.backend.archive.delete(key)
    api.backend.archive.put_if_absent(key, bomb)
    api.evict("t1")
    on_loop: list[bool] = []
    decode = archive_access.decode_snapshot  # where snapshots are read and decoded

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return decode(*args, **kwargs)

    monkeypatch.setattr(archive_access, "decode_snapshot", watched)

    cold = api.client.get("/v1/threads/t1")
    assert cold.status_code == 502, cold.text
    assert cold.json()["type"].endswith("/snapshot-too-large")
    assert "THREADKEEPER_MAX_SNAPSHOT_RAW_BYTES" in cold.json()["detail"]
    assert on_loop == [False]
    assert api.call(api.runtime.redis.exists, keys.thread_keys("default", "t1").meta) == 1
    assert api.client.get("/healthz").status_code == 200


@pytest.fixture
def local_api(make_settings: Callable[..., Settings], local_backend: Backend) -> Iterator[Api]:
    settings = make_settings(archive_url=local_backend.archive.url)
    runtime = build_runtime(settings, archive=local_backend.archive)
    with local_client(create_app(settings, runtime)) as client:
        api = Api(client, runtime, local_backend)
        yield api
        api.call(runtime.close)


def test_a_moved_archive_directory_is_unavailable_never_an_empty_archive(local_api: Api) -> None:
    api = local_api
    create(api, "old")
    assert api.client.post("/v1/threads/old/archive?wait=true").status_code == 200
    api.evict("old")
    root = Path(api.backend.archive.url.removeprefix("file://"))
    root.rename(root.with_name("archive.moved"))
    create(api, "new")

    cold = api.client.get("/v1/threads/old")
    assert cold.status_code == 503, cold.text
    assert cold.json()["type"].endswith("/archive-unavailable")
    assert "missing" in cold.json()["detail"]
    more = {"turns": [{"role": "user", "content": "more"}]}
    assert api.client.post("/v1/threads/old/turns", json=more).status_code == 503
    assert api.client.get("/readyz").status_code == 503
    assert api.client.post("/v1/threads/new/archive?wait=true").status_code == 503
    health = api.client.get("/v1/health").json()
    assert health["status"] != "ok"
    assert not root.exists()  # never re-created behind the daemon
    assert api.pttl("new") == -1  # still dirty: nothing marked clean

    root.with_name("archive.moved").rename(root)
    assert api.client.get("/v1/threads/old").status_code == 200
    assert api.client.get("/readyz").status_code == 200
