"""`threadkeeper archive` and `threadkeeper rehydrate`, over many threads at once."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from cli_support import Harness

from threadkeeper import keys
from threadkeeper.bulk.operations import parse_ref
from threadkeeper.errors import InvalidInput
from threadkeeper.jobs.queue import make_queue
from threadkeeper.runtime import Runtime
from threadkeeper.wire.decode import parse_new_turns

IDS = [f"t{n:02d}" for n in range(12)]


def _snapshots_per_thread(tk: Harness) -> Counter[str]:
    names = tk.archive_keys(keys.SNAPSHOTS)
    parsed = [keys.parse_object_key(name) for name in names]
    return Counter(f"{p[0]}:{p[1]}" for p in parsed if p and keys.snapshot_version(p[2]))


def _evict(tk: Harness, tenant: str, thread_id: str) -> None:
    """What the hot TTL does to a clean thread: its turns leave Redis, its metadata stays."""
    with tk.redis() as client:
        k = keys.thread_keys(tenant, thread_id)
        assert client.delete(k.turns, k.idempotency) >= 1


def test_archive_all_wait_puts_one_object_per_thread(tk_any: Harness) -> None:
    tk = tk_any
    for thread_id in IDS:
        tk.seed("default", thread_id, turns=2)
    tk.seed("acme", "other", turns=1)

    result = tk("archive", "--all", "--wait", "--json")
    assert json.loads(result.stdout)["counts"] == {"archived": len(IDS) + 1}
    assert "archiving" in result.stderr  # the progress bar, on stderr only
    expected = {f"default:{i}": 1 for i in IDS} | {"acme:other": 1}
    assert _snapshots_per_thread(tk) == expected
    with tk.redis() as client:
        assert sum(client.zcard(keys.dirty_index(b)) for b in keys.BUCKETS) == 0

    # A new version replaces the old snapshot: still one object per thread.
    tk.call(lambda rt: _append(rt, "t03"))
    again = tk("archive", "--all", "--wait")
    assert again.stdout.strip() == "archive: 1 archived"
    assert _snapshots_per_thread(tk) == expected
    assert tk("archive", "--all", "--wait").stdout.strip() == "archive: nothing to do"


async def _append(rt: Runtime, thread_id: str) -> None:
    new = parse_new_turns({"turns": [{"role": "user", "content": "more"}]}, rt.settings.limits)
    await rt.service.append("default", thread_id, new)


def test_archive_cold_takes_only_idle_threads(tk: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tk.seed("default", "a")
    tk.seed("default", "b")
    monkeypatch.setenv("THREADKEEPER_SNAPSHOT_IDLE", "1h")
    assert tk("archive", "--cold", "--wait").stdout.strip() == "archive: nothing to do"
    monkeypatch.setenv("THREADKEEPER_SNAPSHOT_IDLE", "0s")
    assert tk("archive", "--cold", "--wait").stdout.strip() == "archive: 2 archived"


def test_archive_named_threads_of_any_tenant(tk: Harness) -> None:
    tk.seed("default", "mine")
    tk.seed("acme", "theirs")
    tk.seed("default", "untouched")
    result = tk("archive", "mine", "acme:theirs", "--wait", "--json")
    assert json.loads(result.stdout)["counts"] == {"archived": 2}
    assert set(_snapshots_per_thread(tk)) == {"default:mine", "acme:theirs"}
    assert tk("archive", "mine", "--wait").stdout.strip() == "archive: 1 clean"


def test_archive_of_a_missing_thread_exits_not_found(tk: Harness) -> None:
    result = tk("archive", "nope", "--wait", code=3)
    assert "archive: 1 missing" in result.stdout
    assert "default:nope: missing (not found)" in result.stderr


def test_archive_without_wait_of_a_missing_thread_queues_nothing(tk: Harness) -> None:
    result = tk("archive", "nope", "--json", code=3)
    assert json.loads(result.stdout) == {
        "queued_jobs": 0,
        "threads": 0,
        "not_found": ["default:nope"],
    }
    assert make_queue(tk.settings).count == 0


def test_archive_without_wait_queues_jobs_for_the_workers(tk: Harness) -> None:
    for thread_id in ("q1", "q2", "q3"):
        tk.seed("default", thread_id)
    result = tk("archive", "--all")
    assert result.stdout.strip() == "queued 1 archive job(s) for 3 thread(s)"
    queue = make_queue(tk.settings)
    try:
        jobs = queue.get_jobs()
        assert [job.func_name for job in jobs] == ["threadkeeper.jobs.tasks.archive_batch"]
        assert sorted(jobs[0].args[0]) == ["default:q1", "default:q2", "default:q3"]
    finally:
        queue.connection.close()
    assert _snapshots_per_thread(tk) == Counter()  # nothing archived in this process


def test_archive_refuses_two_selectors(tk: Harness) -> None:
    result = tk("archive", "x", "--all", "--wait", code=2)
    assert "give exactly one of ID... | --cold | --all" in result.stderr


def test_rehydrate_brings_an_evicted_thread_back(tk: Harness) -> None:
    tk.seed("default", "cold", turns=3)
    tk("archive", "cold", "--wait")
    with tk.redis() as client:
        stream = client.xrange(keys.thread_keys("default", "cold").turns)
    _evict(tk, "default", "cold")
    assert not tk.call(lambda rt: rt.store.turns_exist("default", "cold"))

    assert tk("rehydrate", "cold").stdout.strip() == "rehydrate: 1 restored"
    with tk.redis() as client:
        assert client.xrange(keys.thread_keys("default", "cold").turns) == stream
    assert tk("rehydrate", "cold").stdout.strip() == "rehydrate: 1 present"


def test_rehydrate_all(tk: Harness) -> None:
    for thread_id in ("a", "b", "c"):
        tk.seed("default", thread_id)
    tk("archive", "--all", "--wait")
    _evict(tk, "default", "a")
    _evict(tk, "default", "c")
    result = tk("rehydrate", "--all", "--json")
    assert json.loads(result.stdout)["counts"] == {"present": 1, "restored": 2}


def test_rehydrate_says_which_turns_nothing_holds(tk: Harness) -> None:
    tk.seed("default", "lost", turns=2)  # never archived
    _evict(tk, "default", "lost")
    result = tk("rehydrate", "lost", code=1)
    assert "rehydrate: 1 lost" in result.stdout
    assert "default:lost: lost" in result.stderr


def test_rehydrate_of_a_deleted_thread_exits_not_found(tk: Harness) -> None:
    tk.seed("default", "gone", turns=2)
    tk("archive", "gone", "--wait")
    tk.call(lambda rt: rt.service.delete("default", "gone"))

    result = tk("rehydrate", "gone", code=3)  # as `show gone` and GET: not found

    assert "rehydrate: 1 tombstoned" in result.stdout
    assert "default:gone: tombstoned" in result.stderr


def test_rehydrate_of_an_unknown_thread_exits_not_found(tk: Harness) -> None:
    result = tk("rehydrate", "never-was", code=3)
    assert "default:never-was: never_archived (not found)" in result.stderr


def test_parse_ref() -> None:
    assert parse_ref("abc").member == "default:abc"
    assert parse_ref("abc", "t1").member == "t1:abc"
    assert parse_ref("acme:abc", "t1").member == "acme:abc"
    with pytest.raises(InvalidInput):
        parse_ref("a:b:c")


@pytest.mark.parametrize(
    "command", [["archive", "x", "--wait"], ["archive", "--all"], ["rehydrate", "x"]]
)
def test_without_an_archive_bulk_commands_stop_at_once(
    tk: Harness, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("THREADKEEPER_ARCHIVE_URL", "")
    result = tk(*command, code=2)
    assert f"cannot {command[0]}: THREADKEEPER_ARCHIVE_URL is empty" in result.stderr
