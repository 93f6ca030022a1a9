"""The Lua scripts behind every atomic change of a thread, loaded once per client."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from threadkeeper import keys

# The scripts that change what a thread says: each records an event in the change feed.
FEED_WRITERS = ("create", "append", "delete", "restore", "replace_turn", "update_thread")


def _read(name: str) -> str:
    return resources.files("threadkeeper.store").joinpath(f"lua/{name}.lua").read_text()


def _source(name: str) -> str:
    """A script's source; a feed writer's with feed.lua's `record_change` put first
    (after the script's `#!lua` flags line, which must stay the first)."""
    source = _read(name)
    if name not in FEED_WRITERS:
        return source
    feed = _read("feed").replace("FEED_CAP", str(keys.FEED_CAP))
    if source.startswith("#!"):
        flags, _, body = source.partition("\n")
        return f"{flags}\n{feed}{body}"
    return feed + source


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
