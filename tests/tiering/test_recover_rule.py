"""One rule for a thread the archive says was deleted, whichever path recovers it.

A lookup of a thread Redis has lost and `threadkeeper recover` both re-create its
Redis tombstone, so it answers "deleted" (when, why) from Redis even while the
archive is down.
"""

from __future__ import annotations

import pytest
from tiering_support import Backend, MakeRuntime, new_thread

from threadkeeper import keys
from threadkeeper.bulk import recovery
from threadkeeper.errors import ThreadNotFound
from threadkeeper.models import GoneReason
from threadkeeper.runtime import Runtime
from threadkeeper.store.paging import TurnWindow

pytestmark = pytest.mark.anyio

MAX_SNAPSHOT = 1 << 20
TOMB = keys.thread_keys("default", "t1").tombstone


async def _read_gone(rt: Runtime, thread_id: str) -> ThreadNotFound:
    with pytest.raises(ThreadNotFound) as gone:
        await rt.service.read("default", thread_id, TurnWindow(limit=10))
    return gone.value


@pytest.fixture(params=[False, True], ids=["purged", "snapshot-left"])
async def rt(
    make_runtime: MakeRuntime, backend: Backend, request: pytest.FixtureRequest
) -> Runtime:
    """Archived, deleted (the archive takes its tombstone), then Redis loses everything."""
    rt = make_runtime(backend.archive)
    await new_thread(rt, "t1")
    assert await rt.tiering.archiver.archive_thread("default", "t1") == "archived"
    [name] = backend.snapshots("t1")
    raw = backend.archive.get(name, MAX_SNAPSHOT)
    await rt.service.delete("default", "t1")
    assert backend.snapshots("t1") == []
    if request.param:  # a purge cut short after its tombstone, before the snapshot went
        backend.archive.put_if_absent(name, raw)
    await rt.redis.flushall()
    return rt


async def test_a_lookup_re_creates_the_redis_tombstone_of_a_thread_deleted_in_the_archive(
    rt: Runtime, backend: Backend
) -> None:
    gone = await _read_gone(rt, "t1")  # Redis knows nothing: the archive decides

    assert gone.extra["reason"] == "deleted" and gone.extra["deleted_at"]
    tomb = await rt.store.tombstone("default", "t1")
    assert tomb is not None and tomb.reason is GoneReason.DELETED
    backend.cut()  # the archive down: Redis alone still says when and why
    again = await _read_gone(rt, "t1")
    assert (again.extra["reason"], again.extra["deleted_at"]) == (
        "deleted",
        gone.extra["deleted_at"],
    )
    assert again.detail == gone.detail


async def test_recover_and_a_lookup_leave_the_same_tombstone(rt: Runtime, backend: Backend) -> None:
    await _read_gone(rt, "t1")
    by_lookup = await rt.redis.hgetall(TOMB)
    await rt.redis.flushall()

    report = await recovery.recover(rt)

    assert dict(report.counts) == {"tombstoned": 1}
    assert await rt.redis.hgetall(TOMB) == by_lookup
    backend.cut()
    assert (await _read_gone(rt, "t1")).extra["reason"] == "deleted"
