"""The wire's shapes: the page body (stored turns joined into one JSON array, as they
are), and an export line read back against the shapes the API shows."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from threadkeeper.bulk.export import parse_line
from threadkeeper.errors import InvalidInput
from threadkeeper.settings import Limits
from threadkeeper.wire.shapes import GapIn, PossiblyMissing, ThreadIn, ThreadInfo, joined


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_stored_turns_are_joined_into_one_array(count: int) -> None:
    turns = [b'{"seq":%d,"content":"x"}' % i for i in range(1, count + 1)]
    given = list(turns)
    raw = bytes(joined(turns))
    assert raw == b"[" + b",".join(turns) + b"]"
    assert json.loads(raw) == [{"seq": i, "content": "x"} for i in range(1, count + 1)]
    assert turns == given  # the caller's list is left as it was


def _names(shape: type) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(shape)}


def test_an_export_line_reads_back_every_field_the_api_shows() -> None:
    assert _names(ThreadIn) == _names(ThreadInfo)
    assert _names(GapIn) == _names(PossiblyMissing)


def _line(**thread: Any) -> str:
    fields = {"id": "t", "tenant": "default", "created_at": "2026-11-22T03:58:16.512Z",
              "updated_at": "2026-11-22T03:58:16.512Z", "version": 1, "turn_count": 1}  # fmt: skip
    turn = {"role": "user", "content": "hi", "created_at": "2026-11-22T03:58:16.512Z"}
    return json.dumps({"thread": fields | thread, "turns": [turn]})


@pytest.mark.parametrize("metadata", [None, [], "", 0])
def test_an_import_refuses_metadata_that_is_not_an_object(metadata: object) -> None:
    """export.py's hand check took any falsy metadata for {}; the shape takes objects only."""
    assert parse_line(_line(metadata={"k": 1}), 1, Limits()).thread.metadata == {"k": 1}
    with pytest.raises(InvalidInput, match="line 1: thread.metadata must be a JSON object"):
        parse_line(_line(metadata=metadata), 1, Limits())


def test_an_import_ignores_a_turn_s_null_seq_as_the_shape_says() -> None:
    """TurnIn.seq is read-only and ignored; export.py's hand check refused a null one."""
    record = json.loads(_line())
    record["turns"][0]["seq"] = None
    assert parse_line(json.dumps(record), 1, Limits()).thread.turn_count == 1
    record["turns"][0]["seq"] = 2
    with pytest.raises(InvalidInput, match=r"turns\[0\] has seq 2"):
        parse_line(json.dumps(record), 1, Limits())
