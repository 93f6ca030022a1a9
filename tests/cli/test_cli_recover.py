"""`threadkeeper recover`: Redis rebuilt from the archive alone after FLUSHALL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import Harness
from redis.crc import key_slot

from threadkeeper import keys
from threadkeeper.errors import ThreadNotFound
from threadkeeper.models import GoneReason
from threadkeeper.runtime import Runtime
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.wire.decode import parse_new_turns
from threadkeeper.wire.threads import thread_public

THREADS = [("default", "alpha"), ("default", "beta"), ("default", "gamma"), ("acme", "delta")]
TENANTS = ("default", "acme")


def _comparable(thread: dict[str, Any]) -> dict[str, Any]:
    # archived_at is when Redis recorded the archive's acknowledgement; a snapshot cannot
    # hold its own acknowledgement time, so recover brings back the one before it.
    return {k: v for k, v in thread.items() if k != "archived_at"}


async def _reads(rt: Runtime) -> dict[str, Any]:
    """Each tenant's listing and every thread as GET serves it (same service calls)."""
    seen: dict[str, Any] = {}
    for tenant in TENANTS:
        threads, _ = await rt.service.list(tenant, ThreadQuery(limit=100))
        seen[f"list:{tenant}"] = [_comparable(thread_public(t.thread, t.state)) for t in threads]
    for tenant, thread_id in THREADS:
        view = await rt.service.read(tenant, thread_id, TurnWindow(limit=1000))
        seen[f"{tenant}:{thread_id}"] = {
            "thread": _comparable(thread_public(view.thread, view.state)),
            "turns": view.turns,
            "source": view.source,
        }
    return seen


def _api_get(tk: Harness, thread_id: str) -> dict[str, Any]:
    with tk.api() as client:
        response = client.get(f"/v1/threads/{thread_id}", params={"limit": 1000})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["thread"] = _comparable(body["thread"])
    return body


def _seed_and_archive(tk: Harness) -> None:
    for n, (tenant, thread_id) in enumerate(THREADS):
        tk.seed(tenant, thread_id, turns=2 + n, title=f"T {thread_id}", metadata={"n": n})
    tk("archive", "--all", "--wait")
    # Newer versions of one thread: recover must take its newest snapshot.
    tk.call(lambda rt: _append(rt, "default", "beta"))
    tk("archive", "--all", "--wait")


async def _append(rt: Runtime, tenant: str, thread_id: str) -> None:
    new = parse_new_turns({"turns": [{"role": "user", "content": "later"}]}, rt.settings.limits)
    await rt.service.append(tenant, thread_id, new)


def test_recover_after_flushall_restores_every_thread_and_the_listing(tk_any: Harness) -> None:
    tk = tk_any
    _seed_and_archive(tk)
    before = tk.call(_reads)
    api_before = _api_get(tk, "gamma")
    ls_before = [_comparable(t) for t in json.loads(tk("ls", "--json").stdout)["threads"]]
    assert before["default:beta"]["thread"]["version"] == 3

    tk.flushall()
    assert (
        json.loads(tk("ls", "--json").stdout)["threads"] == []
    )  # (a lookup would rehydrate; the listing cannot)
    assert tk.call(lambda rt: rt.store.get("default", "alpha")) is None

    result = tk("recover", "--json")
    report = json.loads(result.stdout)
    assert report["counts"] == {"restored": len(THREADS)}
    assert tk.call(_reads) == before
    assert _api_get(tk, "gamma") == api_before
    ls_after = [_comparable(t) for t in json.loads(tk("ls", "--json").stdout)["threads"]]
    assert ls_after == ls_before
    assert sorted(row["id"] for row in ls_after) == ["alpha", "beta", "gamma"]


def test_recover_again_skips_what_is_present(tk: Harness) -> None:
    _seed_and_archive(tk)
    tk.flushall()
    tk("recover")
    again = json.loads(tk("recover", "--json").stdout)
    assert again["counts"] == {"present": len(THREADS)}
    assert "4 present" in tk("recover").stdout


def test_deleted_threads_stay_deleted_after_recover(tk_any: Harness) -> None:
    tk = tk_any
    _seed_and_archive(tk)
    tk.call(lambda rt: rt.service.delete("default", "alpha"))
    tk.flushall()

    report = json.loads(tk("recover", "--json").stdout)
    assert report["counts"] == {"restored": len(THREADS) - 1, "tombstoned": 1}
    with pytest.raises(ThreadNotFound) as caught:
        tk.call(lambda rt: rt.service.read("default", "alpha", TurnWindow()))
    assert caught.value.extra["reason"] == GoneReason.DELETED.value
    tomb = tk.call(lambda rt: rt.store.tombstone("default", "alpha"))
    assert tomb is not None and tomb.reason is GoneReason.DELETED
    ids = [t["id"] for t in json.loads(tk("ls", "--json").stdout)["threads"]]
    assert "alpha" not in ids and sorted(ids) == ["beta", "gamma"]


def test_a_tombstone_newer_than_the_snapshot_wins(tk: Harness) -> None:
    """A delete whose snapshot cleanup never finished: the snapshot must not come back."""
    _seed_and_archive(tk)
    thread = tk.call(lambda rt: rt.store.get("default", "gamma"))
    assert thread is not None
    at = thread.updated_at + 1
    body = json.dumps({"reason": "retention", "at": at}).encode()

    async def bury(rt: Runtime) -> None:
        assert rt.archive is not None
        rt.archive.put_if_absent(keys.tombstone_object("default", "gamma", at), body)

    tk.call(bury)
    tk.flushall()
    report = json.loads(tk("recover", "--json").stdout)
    assert report["counts"] == {"restored": len(THREADS) - 1, "tombstoned": 1}
    with pytest.raises(ThreadNotFound) as caught:
        tk.call(lambda rt: rt.service.read("default", "gamma", TurnWindow()))
    assert caught.value.extra["reason"] == "retention"


def test_a_corrupt_snapshot_fails_alone_with_its_reason(tk: Harness) -> None:
    _seed_and_archive(tk)
    names = tk.archive_keys(keys.snapshot_prefix("default", "alpha"))
    assert len(names) == 1
    path = tk.settings.archive_url.removeprefix("file://") + "/" + names[0]  # type: ignore[union-attr]
    with open(path, "r+b") as file:
        file.seek(-5, 2)
        file.write(b"XXXXX")
    tk.flushall()

    result = tk("recover", code=1)
    assert "3 restored" in result.stdout and "1 failed" in result.stdout
    assert "default:alpha: FAILED: snapshot " in result.stderr
    assert tk.call(lambda rt: rt.store.get("default", "alpha")) is None


def test_recover_without_an_archive_says_what_to_set(tk: Harness, monkeypatch: Any) -> None:
    monkeypatch.setenv("THREADKEEPER_ARCHIVE_URL", "")
    result = tk("recover", code=2)
    assert "cannot recover: THREADKEEPER_ARCHIVE_URL is empty" in result.stderr


async def _turns_of(rt: Runtime, ids: list[str]) -> dict[str, Any]:
    return {
        thread_id: (await rt.service.read("default", thread_id, TurnWindow(limit=1000))).turns
        for thread_id in ids
    }


def test_recover_brings_back_48_threads_spread_over_every_slot_third(tk: Harness) -> None:
    ids = [f"many{i:02d}" for i in range(48)]
    for i, thread_id in enumerate(ids):
        tk.seed("default", thread_id, turns=1 + i % 4)
    # On the cluster each third of the slots is one master: the threads are on all three.
    slots = {key_slot(keys.thread_keys("default", t).meta.encode()) * 3 // 16384 for t in ids}
    assert slots == {0, 1, 2}
    tk("archive", "--all", "--wait")
    before = tk.call(lambda rt: _turns_of(rt, ids))
    tk.flushall()  # every master, on the cluster
    assert json.loads(tk("recover", "--json").stdout)["counts"] == {"restored": len(ids)}
    assert tk.call(lambda rt: _turns_of(rt, ids)) == before
    listed, _ = tk.call(lambda rt: rt.service.list("default", ThreadQuery(limit=100)))
    assert sorted(x.thread.id for x in listed) == ids
