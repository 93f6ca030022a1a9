"""EVALSHA without redis-py's extra round trips: alone, or with more commands in one
pipeline, loading a script only when Redis answers NOSCRIPT."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

PipelineWrites = Callable[[Pipeline], Any]  # queues more commands on a pipeline


def nothing(pipe: Pipeline) -> None:
    """No more commands in the script's round trip."""


class ScriptCalls:
    """Runs the store's Lua scripts; the client is passed in."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def run(self, script: AsyncScript, names: list[str], args: list[Any]) -> Any:
        """One EVALSHA, loading the script when Redis answers NOSCRIPT (it ran nothing)."""
        command = ("EVALSHA", script.sha, len(names), *names, *args)
        try:
            return await self.redis.execute_command(*command)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self.redis.execute_command(*command)

    async def run_with(
        self, script: AsyncScript, names: list[str], args: list[Any], more: PipelineWrites
    ) -> list[Any]:
        """EVALSHA and the `more` commands, in one round trip.

        redis-py's pipelines send SCRIPT EXISTS before each execute holding a script: a
        second round trip per append. Here the script is loaded only when Redis answers
        NOSCRIPT (after a restart or SCRIPT FLUSH), then the pipeline runs again: a
        NOSCRIPT script ran nothing, and the other commands are idempotent index writes.
        """
        try:
            return await self._pipelined(script, names, args, more)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self._pipelined(script, names, args, more)

    async def _pipelined(
        self, script: AsyncScript, names: list[str], args: list[Any], more: PipelineWrites
    ) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            # execute_command: the cluster pipeline blocks its `evalsha` method, not the command
            pipe.execute_command("EVALSHA", script.sha, len(names), *names, *args)
            more(pipe)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        # The script's answer decides; the index writes after it are repairable hints, so
        # their failure (say OOM once the script has stored the turns) must not turn a
        # stored write into an error that says nothing was stored.
        if isinstance(replies[0], Exception):
            raise replies[0]
        for reply in replies[1:]:
            if isinstance(reply, Exception):
                log.warning(
                    "index write after %s failed (thread data is safe): %s", names[0], reply
                )
        return replies
