"""The wire's page body: stored turns joined into one JSON array, as they are."""

from __future__ import annotations

import json

import pytest

from threadkeeper.wire.shapes import joined


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_stored_turns_are_joined_into_one_array(count: int) -> None:
    turns = [b'{"seq":%d,"content":"x"}' % i for i in range(1, count + 1)]
    given = list(turns)
    raw = bytes(joined(turns))
    assert raw == b"[" + b",".join(turns) + b"]"
    assert json.loads(raw) == [{"seq": i, "content": "x"} for i in range(1, count + 1)]
    assert turns == given  # the caller's list is left as it was
