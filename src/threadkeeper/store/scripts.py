"""The Lua scripts behind every atomic change of a thread, loaded once per client."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def _source(name: str) -> str:
    return resources.files("threadkeeper.store").joinpath(f"lua/{name}.lua").read_text()


@dataclass(frozen=True, slots=True)
class Scripts:
    create: AsyncScript
    append: AsyncScript
    delete: AsyncScript
    mark_archived: AsyncScript
    restore: AsyncScript
    touch: AsyncScript
    replace_turn: AsyncScript
    update_thread: AsyncScript
    read_all: AsyncScript
    bury: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        return cls(**{name: redis.register_script(_source(name)) for name in cls.__slots__})
