"""`threadkeeper export` / `import`: threads moved between machines as JSONL in the API's shapes."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import Harness, _turn

from threadkeeper import keys
from threadkeeper.errors import IdempotencyMismatch
from threadkeeper.runtime import Runtime
from threadkeeper.service import AppendResult
from threadkeeper.store.paging import TurnWindow
from threadkeeper.wire.decode import parse_new_turns
from threadkeeper.wire.threads import thread_public

IDS = ["one", "two", "three"]
# What describes this machine's archive, not the thread: import starts it over.
LOCAL = ("archived_version", "archived_at", "state")


def _raw(tk: Harness, thread_id: str, tenant: str = "default") -> dict[str, Any]:
    """What Redis holds of a thread: stream entries (ids and bytes), dedupe records, meta."""
    k = keys.thread_keys(tenant, thread_id)
    with tk.redis() as client:
        return {
            "stream": client.xrange(k.turns),
            "idem": client.hgetall(k.idempotency),
            "ttl": client.pttl(k.turns),
        }


def _served(tk: Harness, thread_id: str, tenant: str = "default") -> dict[str, Any]:
    """The thread and every turn, as GET /v1/threads/{id}?limit=1000 serves them."""
    with tk.api() as client:
        headers = {}
        answer = client.get(f"/v1/threads/{thread_id}?limit=1000", headers=headers)
    if tenant != "default":
        return _view(tk, thread_id, tenant)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _view(tk: Harness, thread_id: str, tenant: str) -> dict[str, Any]:
    async def read(rt: Runtime) -> dict[str, Any]:
        view = await rt.service.read(tenant, thread_id, TurnWindow(limit=1000))
        turns = [json.loads(t) for t in view.turns_json] if hasattr(view, "turns_json") else []
        return {"thread": thread_public(view.thread, view.state), "turns": turns}

    return tk.call(read)


def _portable(thread: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in thread.items() if k not in LOCAL}


def _seed(tk: Harness) -> None:
    for n, thread_id in enumerate(IDS):
        tk.seed("default", thread_id, turns=n + 2, title=f"T{n}", metadata={"k": n})
    tk.seed("acme", "four", turns=2)


def test_a_line_is_the_thread_as_the_api_serves_it(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "shape", turns=3, metadata={"k": 1})
    served = _served(tk, "shape")
    record = json.loads(tk("export", "shape").stdout)
    assert set(record) == {"thread", "turns", "idempotency"}
    assert record["thread"] == served["thread"]  # RFC 3339 times, objects, nulls
    assert record["turns"] == served["turns"]
    assert record["thread"]["metadata"] == {"k": 1} and record["thread"]["tool"] is None
    assert record["thread"]["created_at"].endswith("Z")
    assert all("stored" not in turn for turn in record["turns"])


def test_export_then_import_into_an_empty_redis_serves_identical_threads(
    tk: Harness, tmp_path: Path
) -> None:
    _seed(tk)
    tk("archive", "two", "--wait")  # one archived thread, the others dirty
    before = {i: (_raw(tk, i), _served(tk, i)) for i in IDS}
    before_acme = _raw(tk, "four", "acme")
    out = tmp_path / "threads.jsonl"
    tk("export", *IDS, "acme:four", "-o", str(out))
    assert len(out.read_text().splitlines()) == 4

    tk.flushall()
    result = tk("import", str(out), "--json")
    report = json.loads(result.stdout)
    assert report["counts"] == {"imported": 4}
    assert [row["line"] for row in report["lines"]] == [1, 2, 3, 4]

    for thread_id in IDS:
        raw, served = before[thread_id]
        after = _raw(tk, thread_id)
        assert after["stream"] == raw["stream"]  # byte-identical turns, same stream ids
        assert after["idem"] == raw["idem"] and after["idem"]  # retries still dedupe
        assert after["ttl"] == -1  # dirty: no TTL until this machine archives it
        again = _served(tk, thread_id)
        assert again["turns"] == served["turns"]
        assert _portable(again["thread"]) == _portable(served["thread"])
        assert again["thread"]["archived_version"] == 0
    assert _raw(tk, "four", "acme")["stream"] == before_acme["stream"]
    with tk.redis() as client:  # all dirty, so this machine's sweeper archives them
        assert sum(client.zcard(keys.dirty_index(b)) for b in keys.BUCKETS) == 4


def test_export_all_and_by_tenant(tk: Harness) -> None:
    _seed(tk)
    every = [json.loads(line)["thread"] for line in tk("export", "--all").stdout.splitlines()]
    assert sorted((t["tenant"], t["id"]) for t in every) == sorted(
        [("default", i) for i in IDS] + [("acme", "four")]
    )
    acme = tk("export", "--tenant", "acme").stdout.splitlines()
    assert [json.loads(line)["thread"]["id"] for line in acme] == ["four"]
    tk("export", "--all", "one", code=2)


def test_import_takes_the_apis_own_answer_without_idempotency(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "from-api", turns=3, title="kept")
    served = _served(tk, "from-api")
    path = tmp_path / "api.jsonl"
    path.write_text(json.dumps({"thread": served["thread"], "turns": served["turns"]}) + "\n")
    tk.flushall()
    result = tk("import", str(path))
    assert "line 1: default:from-api imported" in result.stderr
    again = _served(tk, "from-api")
    assert again["turns"] == served["turns"]
    assert _portable(again["thread"]) == _portable(served["thread"])


def test_export_of_an_archived_thread_reads_it_back_first(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "cold", turns=4)
    tk("archive", "cold", "--wait")
    served = _served(tk, "cold")
    with tk.redis() as client:  # the hot TTL lapsing
        client.delete(keys.thread_keys("default", "cold").turns)
    record = json.loads(tk("export", "cold").stdout)
    assert record["turns"] == served["turns"]
    assert [t["seq"] for t in record["turns"]] == [1, 2, 3, 4]


def test_export_of_an_unknown_thread_exits_not_found(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "real")
    out = tmp_path / "x.jsonl"
    result = tk("export", "real", "ghost", "-o", str(out), code=3)
    assert "default:ghost: no thread 'ghost'" in result.stderr
    assert len(out.read_text().splitlines()) == 1


def test_import_reports_each_line_and_skips_ids_that_exist(tk: Harness, tmp_path: Path) -> None:
    _seed(tk)
    out = tmp_path / "t.jsonl"
    tk("export", *IDS, "-o", str(out))
    tk.flushall()
    tk.seed("default", "two", turns=1)
    result = tk("import", str(out))
    assert "2 imported" in result.stdout and "1 exists" in result.stdout
    for line in ("line 1: default:one imported", "line 2: default:two exists",
                 "line 3: default:three imported"):  # fmt: skip
        assert line in result.stderr
    assert len(_raw(tk, "two")["stream"]) == 1  # untouched


def _good_line(tk: Harness, tmp_path: Path) -> dict[str, Any]:
    tk.seed("default", "good", turns=3)
    out = tmp_path / "good.jsonl"
    tk("export", "good", "-o", str(out))
    tk.flushall()
    record: dict[str, Any] = json.loads(out.read_text())
    return record


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = r
        for name in parents:
            target = target[int(name)] if name.isdigit() else target[name]
        target[last] = value

    return edit


def _drop_turn(r: dict[str, Any]) -> None:
    r["turns"].pop()


DEDUPE = "idempotency['k-good'] is"
BREAKAGES = {
    "missing turn": (_drop_turn, "thread says turn_count 3, the line holds 2 turns"),
    "bad id": (_set("thread.id", "no spaces allowed"), "thread id 'no spaces allowed' is not"),
    "unknown field": (_set("thread.colour", "red"), "thread has fields threadkeeper does not"),
    "bad time": (_set("thread.created_at", "yesterday"), "thread.created_at is 'yesterday'"),
    "epoch ms time": (_set("turns.0.created_at", 1700000000000), "turns[0].created_at is 17"),
    "bad role": (_set("turns.1.role", "robot"), "turns[1].role"),
    "wrong seq": (_set("turns.2.seq", 9), "turns[2] has seq 9"),
    "metadata string": (_set("thread.metadata", "{}"), "thread.metadata must be a JSON object"),
    "no thread": (lambda r: r.pop("thread"), 'expected {"thread": {...}, "turns": [...]}'),
    # A dedupe record that does not parse would break every later append with its key.
    "dedupe garbage": (_set("idempotency", {"k-good": "garbage"}), f"{DEDUPE} 'garbage'"),
    "dedupe past the end": (_set("idempotency", {"k-good": "2:4:2:f"}), f"{DEDUPE} '2:4:2:f'"),
    "records not base64": (_set("idempotency", "not base64!"), "idempotency is not base64"),
    # The API refuses a 256-character Idempotency-Key: an import must not bring one in.
    "dedupe key too long": (
        _set("idempotency", {"k" * 256: "1:1:1:"}),
        "idempotency must be the base64 of the thread's records, or (as older versions "
        "exported it) map keys (at most 255 characters)",
    ),
    "records cut short": (
        _set("idempotency", "AAAA"),
        "idempotency records do not fit the thread: 3 bytes",
    ),
    "records past the end": (
        _set("idempotency", base64.b64encode(bytes(12) + struct.pack(">III", 2, 4, 2)).decode()),
        "idempotency records do not fit the thread: a record names turns 2-4, the thread has 3",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_import_of_a_malformed_line_names_it_and_writes_nothing(
    tk: Harness, tmp_path: Path, breakage: str
) -> None:
    good = _good_line(tk, tmp_path)
    bad = json.loads(json.dumps(good))
    bad["thread"]["id"] = "other"
    edit, message = BREAKAGES[breakage]
    edit(bad)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")

    result = tk("import", str(path), code=2)
    assert f"line 3: {message}" in result.stderr, result.stderr
    assert "nothing imported" in result.stderr
    with tk.redis() as client:
        assert client.dbsize() == 0


def test_import_of_a_line_that_is_not_json(tk: Harness, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"thread": {\n')
    result = tk("import", str(path), code=2)
    assert "line 1: not valid JSON" in result.stderr


def test_import_enforces_the_limits_of_this_machine(
    tk: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _good_line(tk, tmp_path)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n")
    monkeypatch.setenv("THREADKEEPER_MAX_TURN_BYTES", "10")
    result = tk("import", str(path), code=2)
    assert "line 1: turns[0] is" in result.stderr and "THREADKEEPER_MAX_TURN_BYTES" in result.stderr
    with tk.redis() as client:
        assert client.dbsize() == 0


def _retry(tk: Harness, thread_id: str, key: str, digest: str = "") -> AppendResult | str:
    """The seed's keyed append (turns 2-3, no fingerprint) sent again with `key`; another
    `digest` stands for another body."""
    rows = [_turn(thread_id, i) for i in (1, 2)]

    async def work(rt: Runtime) -> AppendResult | str:
        new = parse_new_turns({"turns": rows}, rt.settings.limits)
        try:
            return await rt.service.append(
                "default", thread_id, new, idempotency_key=key, digest=digest
            )
        except IdempotencyMismatch:
            return "mismatch"

    return tk.call(work)


def _answered_as_the_first_time(tk: Harness, thread_id: str, key: str) -> None:
    again = _retry(tk, thread_id, key)
    assert isinstance(again, AppendResult)
    assert (again.seqs, again.version, again.replayed) == ([2, 3], 2, True)
    assert _retry(tk, thread_id, key, digest="another body") == "mismatch"
    assert _served(tk, thread_id)["thread"]["turn_count"] == 3


def _moved(tk: Harness, path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Export a thread to `path`, edit its line, empty Redis, import it back."""
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record) + "\n")
    tk.flushall()
    tk("import", str(path))


def test_a_retry_after_export_and_import_is_answered_as_the_first_time(
    tk: Harness, tmp_path: Path
) -> None:
    tk.seed("default", "moved", turns=3)
    out = tmp_path / "moved.jsonl"
    tk("export", "moved", "-o", str(out))

    def one_record(record: dict[str, Any]) -> None:  # one keyed append, one record
        assert len(base64.b64decode(record["idempotency"])) == 24

    _moved(tk, out, one_record)
    _answered_as_the_first_time(tk, "moved", "k-moved")


def test_an_export_of_an_older_version_keeps_its_dedupe_records(
    tk: Harness, tmp_path: Path
) -> None:
    """Older versions exported {"<key>": "first:last:version:fingerprint"}."""
    tk.seed("default", "old", turns=3)
    out = tmp_path / "old.jsonl"
    tk("export", "old", "-o", str(out))
    # The seed's append, recorded under another key as an older version wrote it.
    _moved(tk, out, _set("idempotency", {"k-then": "2:3:2:"}))
    _answered_as_the_first_time(tk, "old", "k-then")
    with tk.redis() as client:  # converted to a record on import
        held = client.hvals(keys.thread_keys("default", "old").idempotency)
        assert sum(map(len, held)) == 24
