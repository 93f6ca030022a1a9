"""THREADKEEPER_REPLICA_ACKS without the replicas: an honest unknown outcome, never an ack."""

from __future__ import annotations

import pytest

from store_support import blob, contents, new_thread
from threadkeeper.errors import StoreOutcomeUnknown
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import TurnWindow
from threadkeeper.store.thread_store import ThreadStore

pytestmark = pytest.mark.anyio


async def test_an_append_no_replica_confirms_is_an_unknown_outcome(redis_url: str) -> None:
    client = async_client(redis_url)
    store = ThreadStore(client, hot_ttl=None, replica_acks=1, replica_ack_timeout=0.2)
    try:
        assert await store.create(new_thread("r1"), [])
        for _ in range(2):  # the retry with the same key: still unconfirmed, stored once
            with pytest.raises(StoreOutcomeUnknown, match="0 of 1 replicas confirmed"):
                await store.append("acme", "r1", [blob("x")], max_turns=9, idempotency_key="k1")
        read = await store.read("acme", "r1", TurnWindow(limit=10))
        assert read is not None and contents(read.turns) == ["x"]
    finally:
        await client.aclose()
