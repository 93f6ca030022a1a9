"""The restart canary: did the last Redis restart keep the data?

The daemon arms a small hash (keys.CANARY) holding Redis's `run_id`. Redis gets a
new run_id on every start, so when the run_id changes Redis restarted: if the canary
is still there the data survived; if it is gone (and this process saw the earlier
run_id) the data did not. The verdict is written back into the canary, which is
re-armed under the new run_id, so every process and the CLI read the same record.

A process that never saw the earlier run_id cannot tell a lost dataset from a new
one; it arms the canary and reports no restart. `up` remembers its Redis's run_id
in its home (redis-run.json), outside Redis's data dir, so a new `up` whose Redis
came back without its data (the data dir removed, say) still sees the loss.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from threadkeeper import keys
from threadkeeper.codec import as_text
from threadkeeper.home import Home
from threadkeeper.models import now_ms, rfc3339
from threadkeeper.store.connection import translated
from threadkeeper.store.masters import master_of, masters

log = logging.getLogger(__name__)

RECOVER = "run `threadkeeper recover` to rebuild the archived threads' records from the archive"

# KEYS: canary. ARGV: run_id, now_ms, started_ms, run_id this process saw before ('' if none).
# One script, so two processes noticing the same restart write one verdict.
_CHECK = """
local seen = redis.call('HGET', KEYS[1], 'run_id')
if seen == ARGV[1] then
  return redis.call('HGETALL', KEYS[1])
end
if seen then
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'last_restart_at', ARGV[3],
             'data_survived', '1')
elseif ARGV[4] ~= '' and ARGV[4] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'armed_at', ARGV[2],
             'last_restart_at', ARGV[3], 'data_survived', '0', 'data_lost_at', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'armed_at', ARGV[2])
end
return redis.call('HGETALL', KEYS[1])
"""

# The run_id each client last saw: what lets a process notice that the canary vanished.
_seen_run_ids: weakref.WeakKeyDictionary[Redis, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class RestartReport:
    """What the canary knows about Redis restarts (times in epoch ms)."""

    redis_run_id: str
    armed_at: int | None  # when the canary was first armed in this dataset
    last_restart_at: int | None  # None: no restart seen since the canary was armed
    data_survived_last_restart: bool | None  # None: no restart seen
    data_lost_at: int | None  # the most recent restart that lost the data, if any
    # That loss dealt with (losses.py): the data_lost_at settled, by what, when.
    loss_settled_for: int | None = None
    loss_settled_by: str | None = None  # recover | acknowledged
    loss_settled_at: int | None = None

    @property
    def unsettled_loss(self) -> bool:
        """A loss recorded that neither `recover` nor an operator has dealt with."""
        return self.data_lost_at is not None and self.loss_settled_for != self.data_lost_at

    def public(self) -> dict[str, Any]:
        settled = self.data_lost_at is not None and not self.unsettled_loss
        return {
            "redis_run_id": self.redis_run_id,
            "canary_armed_at": rfc3339(self.armed_at),
            "last_restart_at": rfc3339(self.last_restart_at),
            "data_survived_last_restart": self.data_survived_last_restart,
            "data_lost_at": rfc3339(self.data_lost_at),
            "data_loss_settled_by": self.loss_settled_by if settled else None,
            "data_loss_settled_at": rfc3339(self.loss_settled_at) if settled else None,
        }


def _int(fields: dict[str, str], name: str) -> int | None:
    raw = fields.get(name, "")
    return int(raw) if raw else None


def _report(run_id: str, flat: list[Any]) -> RestartReport:
    fields = {as_text(flat[i]): as_text(flat[i + 1]) for i in range(0, len(flat), 2)}
    survived = fields.get("data_survived")
    return RestartReport(
        redis_run_id=run_id,
        armed_at=_int(fields, "armed_at"),
        last_restart_at=_int(fields, "last_restart_at"),
        data_survived_last_restart=None if survived is None else survived == "1",
        data_lost_at=_int(fields, "data_lost_at"),
        loss_settled_for=_int(fields, "loss_settled_for"),
        loss_settled_by=fields.get("loss_settled_by"),
        loss_settled_at=_int(fields, "loss_settled_at"),
    )


@translated
async def check(redis: Redis, key: str = keys.CANARY) -> RestartReport:
    """Compare Redis's run_id with the canary's, record any restart's verdict, re-arm.

    `redis` is one Redis node (a master of a cluster, with its own `key`)."""
    server = await redis.info("server")
    run_id = str(server["run_id"])
    now = now_ms()
    # Redis counts uptime in whole seconds of its own clock: it started in the second
    # that ends here. The end, so that anything the old dataset held is before it.
    uptime = int(server.get("uptime_in_seconds", 0))
    started = min(now, (now // 1000 - uptime + 1) * 1000)
    previous = _seen_run_ids.get(redis, "")
    flat = await redis.eval(_CHECK, 1, key, run_id, now, started, previous)
    _seen_run_ids[redis] = run_id
    report = _report(run_id, flat)
    if previous and previous != run_id:
        _log_restart(report)
    elif previous == run_id and report.armed_at is not None and report.armed_at >= now:
        log.warning("the restart canary vanished although Redis did not restart: "
                    "someone deleted keys (FLUSHALL?); re-armed it")  # fmt: skip
    return report


def _log_restart(report: RestartReport) -> None:
    when = rfc3339(report.last_restart_at)
    if report.data_survived_last_restart:
        log.info("Redis restarted at %s and kept its data (canary survived)", when)
    else:
        log.error(
            "Redis restarted at %s WITHOUT its data: the canary is gone, so every thread "
            "not in the archive was lost. %s, and keep persistence on (appendonly yes)",
            when,
            RECOVER,
        )


def check_home(url: str, home: Path) -> RestartReport:
    """`up`'s check of the Redis it just started against the one it ran before in `home`."""

    async def run() -> RestartReport:
        client = Redis.from_url(url)
        try:
            return await _check_against_home(client, Home(home).redis_run_file)
        finally:
            await client.aclose()

    return asyncio.run(run())


async def _check_against_home(redis: Redis, record: Path) -> RestartReport:
    try:
        previous = str(json.loads(record.read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        previous = ""  # the first `up` in this home: nothing to compare with
    if previous:
        _seen_run_ids[redis] = previous
    report = await check(redis)
    record.write_text(json.dumps({"run_id": report.redis_run_id}))
    return report


@translated
async def check_masters(client: Any) -> list[tuple[str, RestartReport]]:
    """The canary of every master (one, for a standalone Redis): (address, verdict)."""
    return [(m.address, await check(m.client, m.canary_key)) for m in await masters(client)]


@dataclass(frozen=True, slots=True)
class DataLoss:
    """A restart without its data of the master serving one thread's slot."""

    at: int  # epoch ms
    master: str  # host:port; '' for a standalone Redis


RestartLossProbe = Callable[[str, str], Awaitable[DataLoss | None]]


def loss_probe(client: Any) -> RestartLossProbe:
    """The restart_loss probe: did the master serving (tenant, id)'s slot ever lose its data?

    Only that master counts: on a cluster, a thread on a master that kept its data was
    not lost in another master's restart. After a failover the promoted replica holds
    the canary it replicated, so a loss before it still shows.
    """

    @translated
    async def probe(tenant: str, thread_id: str) -> DataLoss | None:
        master = await master_of(client, keys.thread_keys(tenant, thread_id).tag)
        report = await check(master.client, master.canary_key)
        if report.data_lost_at is None:
            return None
        return DataLoss(report.data_lost_at, master.address)

    return probe
