"""Redis bytes per turn: a threadkeeper thread against a raw stream of the same content."""

from __future__ import annotations

import uuid

from common import TENANT, content, turn
from floor import LuaFloor, floor_keys
from inproc import Kit, valid_turns
from redis.asyncio import Redis

from threadkeeper import keys
from threadkeeper.service import fingerprint
from threadkeeper.wire.shapes import NewTurns


async def usage(redis: Redis, *names: str) -> int:
    """MEMORY USAGE of each key, every element sampled (SAMPLES 0)."""
    total = 0
    for name in names:
        total += int(await redis.memory_usage(name, samples=0) or 0)
    return total


async def floor_bytes(floor: LuaFloor, turns: int) -> int:
    await floor.fill("memory", [content(i).encode() for i in range(turns)])
    return await usage(floor.redis, floor_keys("memory")[1])


async def thread_bytes(kit: Kit, redis: Redis, thread_id: str) -> dict[str, int]:
    k = keys.thread_keys(TENANT, thread_id)
    return {
        "stream": await usage(redis, k.turns),
        "meta": await usage(redis, k.meta),
        "idempotency": await usage(redis, k.idempotency),
    }


async def batched_thread(kit: Kit, turns: int, name: str) -> str:
    """Turns appended in batches, no Idempotency-Key: the leanest a thread gets."""
    return await kit.create(f"{name}-batched", turns)


async def keyed_thread(kit: Kit, turns: int, name: str) -> str:
    """One turn per append, each with its own Idempotency-Key, as a careful client sends."""
    thread_id = await kit.create(f"{name}-keyed")
    for i in range(turns):
        body = {"turns": [turn(i)]}
        await kit.service.append(
            TENANT,
            thread_id,
            NewTurns(turns=valid_turns(i, 1)),
            idempotency_key=uuid.uuid4().hex,
            digest=fingerprint(body),
        )
    return thread_id
