"""Redis errors translated once: a refusal that sent nothing, told from an unknown outcome."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio

from redis_cluster import RedisCluster
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.errors import StoreError, StoreOutcomeUnknown, StoreUnavailable
from threadkeeper.store.connection import async_client, redis_errors

pytestmark = pytest.mark.anyio


@pytest.fixture
def swallowing_server() -> Iterator[int]:
    """A server that takes each command, then drops the connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(5)


async def _fail(port: int) -> StoreUnavailable:
    client = redis.asyncio.Redis(port=port, socket_connect_timeout=2, socket_timeout=2)
    try:
        with pytest.raises(StoreUnavailable) as caught, redis_errors():
            await client.set("k", "v")
    finally:
        await client.aclose()
    return caught.value


async def test_a_refused_connection_certainly_stored_nothing() -> None:
    error = await _fail(free_port())  # nothing listens there
    assert not isinstance(error, StoreOutcomeUnknown)
    assert error.extra["outcome"] == "not_stored" and "nothing was stored" in error.detail


async def test_a_dropped_reply_says_the_write_may_have_been_stored(swallowing_server: int) -> None:
    error = await _fail(swallowing_server)
    assert isinstance(error, StoreOutcomeUnknown) and error.status == 503
    assert error.problem()["type"].endswith("/store-outcome-unknown")
    assert error.extra["outcome"] == "unknown" and "may have been stored" in error.detail


async def _cross_slot_error(call: Callable[[], Awaitable[object]]) -> StoreError:
    with pytest.raises(StoreError) as caught, redis_errors():
        await call()
    return caught.value


async def test_keys_of_two_slots_in_one_command_are_called_a_bug_not_a_failover(
    redis_cluster: RedisCluster,
) -> None:
    two_slots = ["tk:{a}:x", "tk:{b}:x"]  # slots 15495 and 3300
    plain = redis.asyncio.Redis(port=redis_cluster.nodes[0].port)  # Redis says CROSSSLOT
    cluster = async_client(redis_cluster.url)  # redis-py refuses before sending
    try:
        errors = [
            await _cross_slot_error(lambda: plain.mset(dict.fromkeys(two_slots, 1))),
            await _cross_slot_error(lambda: cluster.eval("return 1", 2, *two_slots)),
        ]
    finally:
        await plain.aclose()
        await cluster.aclose()
    for error in errors:
        assert not isinstance(error, StoreUnavailable) and "retry" not in error.extra
        assert "bug in threadkeeper" in error.detail and "retrying will not help" in error.detail


async def test_a_fresh_cluster_client_takes_many_first_commands_at_once(
    redis_cluster: RedisCluster,
) -> None:
    """redis-py 8.1 alone loses connections under commands started before its slot map
    is loaded (`recover`'s workers on a new client): about 1 try in 3 failed, with
    ConnectionError or AttributeError. Ours loads the map first, for commands and
    pipelines alike."""
    redis_cluster.flush()
    writer = async_client(redis_cluster.url)
    try:
        for i in range(16):
            await writer.hset(f"{{t{i}}}:m", "n", str(i))
    finally:
        await writer.aclose()
    stored = [{b"n": str(i).encode()} for i in range(16)]
    for attempt in range(20):
        client = async_client(redis_cluster.url)
        try:
            if attempt % 2:
                found = await asyncio.gather(*(client.hgetall(f"{{t{i}}}:m") for i in range(16)))
                assert found == stored
            else:
                found = await asyncio.gather(*(_pipelined(client, i) for i in range(16)))
                assert found == [[hash, 1] for hash in stored]
        finally:
            await client.aclose()


async def _pipelined(client: Any, i: int) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(f"{{t{i}}}:m")
        pipe.exists(f"{{t{i}}}:m")
        result: list[Any] = await pipe.execute()
        return result
