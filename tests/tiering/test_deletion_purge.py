"""A deletion the archive could not take at once: 404 at once, purged later, never resurrected."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from httpx import Response
from starlette.testclient import TestClient
from tiering_support import Backend, Clock, MakeRuntime, new_thread

from threadkeeper import keys, metrics
from threadkeeper.bulk import recovery
from threadkeeper.errors import ThreadNotFound
from threadkeeper.runtime import Runtime
from threadkeeper.store.paging import TurnWindow
from threadkeeper.tiering.sweeper import InlineDispatch, sweep

pytestmark = pytest.mark.anyio


async def _read_gone(rt: Runtime, thread_id: str) -> ThreadNotFound:
    with pytest.raises(ThreadNotFound) as gone:
        await rt.service.read("default", thread_id, TurnWindow(limit=10))
    return gone.value


def test_delete_while_the_archive_is_down_is_204_then_404_deleted(
    make_client: Callable[..., TestClient], local_backend: Backend
) -> None:
    client = make_client()  # its archive is the directory local_backend cuts off
    turns = [{"role": "user", "content": "secret"}]
    assert client.post("/v1/threads", json={"id": "t1", "turns": turns}).status_code == 201
    assert client.post("/v1/threads/t1/archive?wait=true").json()["status"] == "archived"
    local_backend.cut()
    assert client.delete("/v1/threads/t1").status_code == 204
    _assert_deleted(client.get("/v1/threads/t1"))  # the archive still down
    local_backend.restore()
    _assert_deleted(client.get("/v1/threads/t1"))  # back, its snapshot not yet purged


def _assert_deleted(r: Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["reason"] == "deleted" and r.json()["deleted_at"]


async def test_an_owed_purge_is_retried_by_the_sweeper_until_it_lands(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "archived"
    failures = metrics.SHARED.value("archive_failures", "purge")
    backend.cut()
    await rt.service.delete("default", "t1")  # Redis is the store of record: done

    assert metrics.SHARED.value("archive_failures", "purge") == failures + 1
    assert await rt.store.indexes.owed_purges(10) == [("default", "t1", "deleted", clock.now)]
    assert (await _read_gone(rt, "t1")).extra["reason"] == "deleted"
    still_down = await sweep(rt.store, rt.settings, InlineDispatch(rt.tiering), tiering=rt.tiering)
    assert (still_down.purged, still_down.purges_owed) == (0, 1)
    assert metrics.SHARED.value("archive_failures", "purge") == failures + 2

    backend.restore()
    assert len(backend.snapshots("t1")) == 1  # nothing retried it yet
    report = await sweep(rt.store, rt.settings, InlineDispatch(rt.tiering), tiering=rt.tiering)

    assert (report.purged, report.purges_owed) == (1, 0)
    assert backend.snapshots("t1") == []
    assert list(backend.archive.list_keys(keys.tombstone_prefix("default", "t1")))
    assert await rt.store.indexes.owed_purges(10) == []

    await rt.redis.flushall()  # total Redis loss: the archive alone decides
    recovered = await recovery.recover(rt)
    assert dict(recovered.counts) == {"tombstoned": 1}
    gone = await _read_gone(rt, "t1")
    assert gone.extra["reason"] == "deleted" and gone.extra["deleted_at"]


async def test_a_late_purge_spares_a_thread_recreated_under_the_same_id(
    make_runtime: MakeRuntime, local_backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(local_backend.archive)
    await new_thread(rt, "t1")
    await rt.tiering.archiver.archive_thread("default", "t1")
    local_backend.cut()
    await rt.service.delete("default", "t1")
    local_backend.restore()
    clock.advance(1)
    await new_thread(rt, "t1", turns=2)  # a new thread under the old id, archived
    await rt.tiering.archiver.archive_thread("default", "t1")

    await sweep(rt.store, rt.settings, InlineDispatch(rt.tiering), tiering=rt.tiering)

    [kept] = local_backend.snapshots("t1")
    assert keys.snapshot_version(kept) == (clock.now, 1)
    page = await rt.service.read("default", "t1", TurnWindow(limit=10))
    assert len(page.turns) == 2
