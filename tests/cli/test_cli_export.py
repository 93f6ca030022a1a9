"""`threadkeeper export` / `import`: threads moved between machines as JSONL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import Harness

from threadkeeper import keys
from threadkeeper.export import FORMAT
from threadkeeper.paging import TurnPage
from threadkeeper.runtime import Runtime

IDS = ["one", "two", "three"]


def _raw(tk: Harness, thread_id: str, tenant: str = "default") -> dict[str, Any]:
    """What Redis holds of a thread: stream entries (ids and bytes), dedupe hash, meta."""
    k = keys.thread_keys(tenant, thread_id)
    with tk.redis() as client:
        return {
            "stream": client.xrange(k.turns),
            "idem": client.hgetall(k.idempotency),
            "meta": client.hgetall(k.meta),
            "ttl": client.pttl(k.turns),
        }


def _view(tk: Harness, thread_id: str, tenant: str = "default") -> dict[str, Any]:
    async def read(rt: Runtime) -> dict[str, Any]:
        view = await rt.service.read(tenant, thread_id, TurnPage(limit=1000))
        return {"thread": view.thread.public(view.state), "turns": view.turns}

    return tk.call(read)


def _portable(thread: dict[str, Any]) -> dict[str, Any]:
    # What import deliberately changes: the new machine's archive holds nothing yet.
    return {k: v for k, v in thread.items() if k not in ("archived_version", "archived_at")}


def _seed(tk: Harness) -> None:
    for n, thread_id in enumerate(IDS):
        tk.seed("default", thread_id, turns=n + 2, title=f"T{n}", metadata={"k": n})
    tk.seed("acme", "four", turns=2)


def test_export_then_import_into_an_empty_redis_gives_identical_threads(
    tk: Harness, tmp_path: Path
) -> None:
    _seed(tk)
    tk("archive", "two", "--wait")  # one archived thread, the others dirty
    before = {i: (_raw(tk, i), _view(tk, i)) for i in IDS}
    before_acme = _raw(tk, "four", "acme")
    out = tmp_path / "threads.jsonl"
    tk("export", *IDS, "acme:four", "-o", str(out))
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["format"] == FORMAT for line in lines)

    tk.flushall()
    result = tk("import", str(out), "--json")
    assert json.loads(result.stdout)["counts"] == {"imported": 4}

    for thread_id in IDS:
        raw, view = before[thread_id]
        after = _raw(tk, thread_id)
        assert after["stream"] == raw["stream"]  # byte-identical turns, same stream ids
        assert after["idem"] == raw["idem"] and after["idem"]  # retries still dedupe
        assert after["ttl"] == -1  # dirty: no TTL until this machine archives it
        again = _view(tk, thread_id)
        assert again["turns"] == view["turns"]
        assert _portable(again["thread"]) == _portable(view["thread"])
        assert again["thread"]["archived_version"] == 0
    assert _raw(tk, "four", "acme")["stream"] == before_acme["stream"]
    with tk.redis() as client:  # all dirty, so this machine's sweeper archives them
        assert sum(client.zcard(keys.dirty_index(b)) for b in keys.BUCKETS) == 4


def test_export_of_an_archived_thread_reads_it_back_first(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "cold", turns=4)
    tk("archive", "cold", "--wait")
    stream = _raw(tk, "cold")["stream"]
    with tk.redis() as client:  # the hot TTL lapsing
        client.delete(keys.thread_keys("default", "cold").turns)
    out = tk("export", "cold").stdout  # to stdout
    record = json.loads(out)
    blobs = [base64.b64decode(t["stored"]) for t in record["turns"]]
    assert blobs == [fields[b"t"] for _, fields in stream]
    assert [t["seq"] for t in record["turns"]] == [1, 2, 3, 4]


def test_export_of_an_unknown_thread_fails_and_says_so(tk: Harness, tmp_path: Path) -> None:
    tk.seed("default", "real")
    out = tmp_path / "x.jsonl"
    result = tk("export", "real", "ghost", "-o", str(out), code=1)
    assert "default:ghost: FAILED: no thread 'ghost'" in result.stderr
    assert len(out.read_text().splitlines()) == 1


def test_import_skips_ids_that_exist(tk: Harness, tmp_path: Path) -> None:
    _seed(tk)
    out = tmp_path / "t.jsonl"
    tk("export", *IDS, "-o", str(out))
    tk.flushall()
    tk.seed("default", "two", turns=1)
    result = tk("import", str(out))
    assert "2 imported" in result.stdout and "1 exists" in result.stdout
    assert "already exist" in result.stderr
    assert len(_raw(tk, "two")["stream"]) == 1  # untouched


def _good_line(tk: Harness, tmp_path: Path) -> dict[str, Any]:
    tk.seed("default", "good", turns=3)
    out = tmp_path / "good.jsonl"
    tk("export", "good", "-o", str(out))
    tk.flushall()
    record: dict[str, Any] = json.loads(out.read_text())
    return record


def _edit_content(r: dict[str, Any]) -> None:
    r["turns"][1]["content"] = "rewritten by hand"


def _bad_base64(r: dict[str, Any]) -> None:
    r["turns"][0]["stored"] = "!!!not base64!!!"


def _drop_turn(r: dict[str, Any]) -> None:
    r["turns"].pop()


def _bad_id(r: dict[str, Any]) -> None:
    r["thread"]["id"] = "no spaces allowed"


def _bad_format(r: dict[str, Any]) -> None:
    r["format"] = "something-else/9"


def _not_msgpack(r: dict[str, Any]) -> None:
    r["turns"][0]["stored"] = base64.b64encode(b"\xc1\xc1").decode()


def _dedupe(record: str) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        r["idempotency"]["k-good"] = record

    return edit


DEDUPE = "idempotency['k-good'] is"
BREAKAGES = {
    "edited content": (_edit_content, "turns[1] (seq 2) does not match its stored bytes"),
    "bad base64": (_bad_base64, "turns[0].stored is not a stored turn"),
    "missing turn": (_drop_turn, "thread says 3 turns"),
    "bad id": (_bad_id, "thread id 'no spaces allowed' is not valid"),
    "other format": (_bad_format, "format is 'something-else/9'; this threadkeeper reads"),
    "not msgpack": (_not_msgpack, "turns[0].stored is not a stored turn"),
    # A dedupe record that does not parse would break every later append with its key.
    "dedupe garbage": (_dedupe("garbage"), f"{DEDUPE} 'garbage': a dedupe record reads"),
    "dedupe 3 fields": (_dedupe("2:3:2"), f"{DEDUPE} '2:3:2'"),
    "dedupe past the end": (_dedupe("2:4:2:f"), f"{DEDUPE} '2:4:2:f'"),
    "dedupe first > last": (_dedupe("3:2:2:f"), f"{DEDUPE} '3:2:2:f'"),
    "dedupe zero": (_dedupe("0:1:2:f"), f"{DEDUPE} '0:1:2:f'"),
    "dedupe future version": (_dedupe("2:3:9:f"), f"{DEDUPE} '2:3:9:f'"),
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
    path.write_text('{"format": "threadkeeper-export/1", "thread": {\n')
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
