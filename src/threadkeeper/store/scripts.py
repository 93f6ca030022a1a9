"""The Lua scripts behind every atomic change of a thread, loaded once per client."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from threadkeeper import keys

# What each script's source begins with (lua/*.lua that define functions only): feed.lua's
# `record_change` for the scripts that change what a thread says (each records an event in
# the change feed), guard.lua's checks for the writes, ttl.lua's `keep_for`.
PRELUDES = {
    "create": ("feed",),
    "append": ("feed", "guard", "ttl"),
    "delete": ("feed",),
    "restore": ("feed",),
    "replace_turn": ("feed", "guard", "ttl"),
    "update_thread": ("feed", "guard"),
}
# Facts the Lua cannot import, written into the preludes.
_FILLED = {"FEED_CAP": str(keys.FEED_CAP), "FEED_PATTERN": keys.FEED_LUA_PATTERN}


def _read(name: str) -> str:
    return resources.files("threadkeeper.store").joinpath(f"lua/{name}.lua").read_text()


def _prelude(name: str) -> str:
    source = _read(name)
    for placeholder, value in _FILLED.items():
        source = source.replace(placeholder, value)
    return source


def _source(name: str) -> str:
    return with_preludes(_read(name), PRELUDES.get(name, ()))


def with_preludes(source: str, names: Iterable[str]) -> str:
    """A script's source with the `names` preludes put first (after its `#!lua` flags line,
    which must stay the first)."""
    preludes = "".join(_prelude(name) for name in names)
    if source.startswith("#!"):
        flags, _, body = source.partition("\n")
        return f"{flags}\n{preludes}{body}"
    return preludes + source


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
