"""Snapshots at the edges: re-put after a killed worker, too large to read back, a lost mark."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from tiering_support import Backend, Clock, MakeRuntime, append, meta, new_thread, turns_ttl

from threadkeeper import keys, metrics
from threadkeeper.archive import Archive
from threadkeeper.errors import ArchiveObjectExists
from threadkeeper.runtime import Runtime
from threadkeeper.settings import Limits
from threadkeeper.snapshot import Snapshot, encode_snapshot
from threadkeeper.store.paging import TurnWindow
from threadkeeper.tiering.sweeper import InlineDispatch, sweep
from threadkeeper.wire.decode import parse_new_thread

pytestmark = pytest.mark.anyio


class Killed(Exception):
    """The worker died right after its put landed, before the compare-and-set."""


class DiesAfterPut:
    def __init__(self, inner: Archive) -> None:
        self.inner = inner
        self.url = inner.url

    def put_if_absent(self, key: str, data: bytes) -> None:
        self.inner.put_if_absent(key, data)
        raise Killed(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _killed_mid_snapshot(rt: Runtime, backend: Backend, thread_id: str) -> None:
    rt.tiering.archiver.archive = DiesAfterPut(backend.archive)
    with pytest.raises(Killed):
        await rt.tiering.archiver.archive_thread("default", thread_id)
    rt.tiering.archiver.archive = backend.archive


async def test_a_snapshot_put_again_after_reads_is_accepted(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    await _killed_mid_snapshot(rt, backend, "t1")
    clock.advance(120)
    await rt.service.read("default", "t1", TurnWindow(limit=10))  # a touch: touched_at moves
    assert (await meta(rt, "t1")).touched_at == clock.now

    clock.advance(120)  # idle: due for its snapshot again
    dispatch = InlineDispatch(rt.tiering)
    await sweep(rt.store, rt.settings, dispatch)

    assert dispatch.outcomes == {"default:t1": "archived"}
    assert not (await meta(rt, "t1")).dirty
    assert len(backend.snapshots("t1")) == 1


async def test_a_snapshot_records_no_read_time(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive)
    thread = await new_thread(rt, "t1")
    clock.advance(120)
    await rt.service.read("default", "t1", TurnWindow(limit=10))  # touched_at moves on
    await rt.tiering.archiver.archive_thread("default", "t1")
    snap = await rt.tiering.restorer.load("default", "t1", thread.created_at, thread.version)
    # Only what defines the version: its bytes are the same however often it was read.
    assert snap.thread["touched_at"] == thread.updated_at


async def _put_by_hand(rt: Runtime, backend: Backend, thread_id: str, **changes: Any) -> str:
    """The thread's current version as some other writer encoded it, under its own key."""
    state = await rt.store.all_turns("default", thread_id)
    assert state is not None
    thread, blobs, idem = state
    fields = dict(thread.to_hash()) | {"archived_version": thread.version, "dirty_since": ""}
    fields |= changes.pop("fields", {})
    blobs = changes.pop("blobs", blobs)
    key = keys.snapshot_key("default", thread_id, thread.created_at, thread.version)
    backend.archive.put_if_absent(key, encode_snapshot(Snapshot(fields, blobs, idem)))
    return key


async def test_an_existing_object_of_the_same_version_is_taken_as_the_snapshot(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    # Same version, other bytes (an older encoding kept a read's touched_at, say).
    await _put_by_hand(rt, backend, "t1", fields={"touched_at": 12345, "archived_at": 1})
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "archived"
    assert not (await meta(rt, "t1")).dirty


async def test_an_existing_object_with_other_turns_is_still_refused(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1", turns=2)
    other = [b"\x81\xa1c\xa5other", b"\x81\xa1c\xa5turns"]
    await _put_by_hand(rt, backend, "t1", blobs=other)
    failed = metrics.SHARED.value("snapshots", "failed")
    with pytest.raises(ArchiveObjectExists):
        await rt.tiering.archiver.archive_thread("default", "t1")
    assert metrics.SHARED.value("snapshots", "failed") == failed + 1
    assert (await meta(rt, "t1")).dirty


async def test_a_thread_too_large_to_read_back_stays_hot_and_dirty(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    limits = Limits(max_snapshot_bytes=4096)
    rt = make_runtime(backend.archive, limits=limits)
    big = base64.b64encode(os.urandom(6000)).decode()  # incompressible
    body = {"id": "t1", "turns": [{"role": "user", "content": big}]}
    await rt.service.create("default", parse_new_thread(body, limits))
    too_large = metrics.SHARED.value("snapshots", "too_large")

    assert await rt.tiering.archiver.archive_thread("default", "t1") == "too_large"

    assert metrics.SHARED.value("snapshots", "too_large") == too_large + 1
    thread = await meta(rt, "t1")
    assert thread.dirty and thread.archived_version == 0
    assert await turns_ttl(rt, "t1") == -1
    assert backend.snapshots("t1") == []
    page = await rt.service.read("default", "t1", TurnWindow(limit=10))
    assert page.turns[0]["content"] == big


async def test_a_thread_over_the_decompressed_cap_is_not_archived(
    make_runtime: MakeRuntime, backend: Backend
) -> None:
    """What a reader would refuse as snapshot-too-large is never written."""
    limits = Limits(max_snapshot_raw_bytes=4096)
    rt = make_runtime(backend.archive, limits=limits)
    big = base64.b64encode(os.urandom(6000)).decode()
    body = {"id": "t1", "turns": [{"role": "user", "content": big}]}
    await rt.service.create("default", parse_new_thread(body, limits))

    assert await rt.tiering.archiver.archive_thread("default", "t1") == "too_large"
    assert (await meta(rt, "t1")).dirty and backend.snapshots("t1") == []


async def test_a_lost_mark_falls_back_to_the_newer_snapshot(
    make_runtime: MakeRuntime, backend: Backend, clock: Clock
) -> None:
    rt = make_runtime(backend.archive)
    first = await new_thread(rt, "t1", turns=2)
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "archived"
    await append(rt, "t1", "three")
    # Version 2 is archived and version 1 pruned, but Redis lost the mark in a crash
    # (appendfsync everysec): it still says version 1, which is gone, and the TTL lapsed.
    await _killed_mid_snapshot(rt, backend, "t1")
    backend.archive.delete(keys.snapshot_key("default", "t1", first.created_at, 1))
    k = keys.thread_keys("default", "t1")
    await rt.redis.delete(k.turns, k.idempotency)

    outcome = await rt.tiering.restorer.rehydrate("default", "t1")

    assert outcome.status == "restored"
    page = await rt.service.read("default", "t1", TurnWindow(limit=10))
    assert [t["content"] for t in page.turns] == ["turn 1", "turn 2", "three"]
    assert page.missing is None
    clock.advance(120)
    dispatch = InlineDispatch(rt.tiering)
    await sweep(rt.store, rt.settings, dispatch)  # the mark is made again
    assert dispatch.outcomes == {"default:t1": "archived"}
    [name] = backend.snapshots("t1")
    assert keys.snapshot_version(name) == (first.created_at, 2)
