"""How the Lua scripts are put together (store/scripts.py): preludes, and the facts
written into them from keys.py."""

from __future__ import annotations

import pytest
import redis.asyncio

from threadkeeper import keys
from threadkeeper.store.scripts import PRELUDES, _source

pytestmark = pytest.mark.anyio

MATCHES = "return string.match(KEYS[1], ARGV[1]) ~= nil and 1 or 0"


async def test_the_feed_pattern_knows_every_feed_bucket_and_nothing_else(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        for bucket in (0, 7, keys.BUCKETS[-1]):
            name = keys.feed_stream(bucket)
            assert await client.eval(MATCHES, 1, name, keys.FEED_LUA_PATTERN) == 1, name
        k = keys.thread_keys("feed", "feed")
        for name in (keys.tenant_index("feed", 7), keys.user_index("t", "feed", 7), *k.all):
            assert await client.eval(MATCHES, 1, name, keys.FEED_LUA_PATTERN) == 0, name
    finally:
        await client.aclose()


def test_a_script_gets_its_preludes_filled_in_after_its_flags_line() -> None:
    defines = {"feed": "local function record_change", "guard": "local function edit_guard",
               "ttl": "local function keep_for"}  # fmt: skip
    for name, parts in PRELUDES.items():
        source = _source(name)
        assert "FEED_CAP" not in source and "FEED_PATTERN" not in source, name
        assert {part for part in defines if defines[part] in source} == set(parts), name
    assert _source("delete").startswith("#!lua flags=allow-oom\n-- The change feed")
    assert "edit_guard" not in _source("create")
