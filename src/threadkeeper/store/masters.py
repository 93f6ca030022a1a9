"""The masters of the hot store, each with a plain client and its own canary key.

A standalone Redis is one master. On a cluster, health and the restart canary are
per master: each master's durability and memory are its own, and one master can
restart without its data while the others keep theirs. Each master gets a plain
client (INFO and EVAL go to that node, not to whichever the cluster client picks)
and a canary key whose slot that master serves.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from threadkeeper import keys


@dataclass(frozen=True, slots=True)
class Master:
    address: str  # host:port
    client: redis.asyncio.Redis
    canary_key: str


_MOST_TRIES = 1_000_000  # a master serving even one slot is found in ~16384 tries

_plain: weakref.WeakKeyDictionary[Any, dict[str, redis.asyncio.Redis]] = weakref.WeakKeyDictionary()


def is_cluster_client(client: Any) -> bool:
    return isinstance(client, RedisCluster)


async def masters(client: Any) -> list[Master]:
    """The hot store's masters now (after a failover, the promoted replicas)."""
    if not is_cluster_client(client):
        return [Master("", client, keys.CANARY)]
    if client._initialize:  # redis-py loads the slot map on first use
        await client.initialize()
    found = []
    for node in sorted(client.get_primaries(), key=lambda n: n.name):
        canary = _canary_key(client, node.name)
        if canary is not None:  # a master serving no slot holds no thread
            found.append(Master(node.name, _plain_for(client, node), canary))
    return found


def _canary_key(client: Any, node_name: str) -> str | None:
    """The first `tk:canary:{m<i>}` whose slot this master serves."""
    slots = client.nodes_manager.slots_cache
    for i in range(_MOST_TRIES):
        name = keys.master_canary(f"m{i}")
        owners = slots.get(key_slot(name.encode()))
        if owners and owners[0].name == node_name:
            return name
    return None


async def master_of(client: Any, key: str) -> Master:
    """The master serving `key`'s slot now (as the cluster client last saw), with its canary."""
    if not is_cluster_client(client):
        return Master("", client, keys.CANARY)
    if client._initialize:
        await client.initialize()
    node = client.nodes_manager.slots_cache[key_slot(key.encode())][0]
    canary = _canary_key(client, node.name)
    assert canary is not None  # it serves this key's slot, so some canary tag lands on it
    return Master(node.name, _plain_for(client, node), canary)


async def plain_client(client: Any, slot: int) -> redis.asyncio.Redis:
    """A plain client of the master serving `slot` now (as the cluster client last saw)."""
    if client._initialize:
        await client.initialize()
    return _plain_for(client, client.nodes_manager.slots_cache[slot][0])


def _plain_for(client: Any, node: Any) -> redis.asyncio.Redis:
    plain = _plain.setdefault(client, {})
    if node.name not in plain:
        plain[node.name] = redis.asyncio.Redis(
            host=node.host, port=node.port, socket_connect_timeout=5, socket_timeout=10
        )
    return plain[node.name]


async def close(client: Any) -> None:
    for plain in _plain.pop(client, {}).values():
        await plain.aclose()
