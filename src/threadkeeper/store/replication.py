"""Appends acknowledged only once N replicas hold them (THREADKEEPER_REPLICA_ACKS).

Redis replicates asynchronously: a master that dies after answering an append but
before a replica received it loses that turn in the failover, whatever its fsync
policy. With N > 0, each append that stored turns is followed, on the thread's own
master, by a small script that checks the turns are there and writes a marker, and
by WAIT N on the same connection: WAIT counts the replicas that hold everything
that connection wrote, so the marker after the turns vouches for the turns.

The check matters after a failover: a new master that never got the turns finds
no record of the request, and the answer is an unknown outcome (retry with the
same key: the retry stores them), never a false acknowledgement. When fewer than
N replicas confirm within the timeout, the answer is the same unknown outcome:
the turns are on the master and may or may not survive its loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.crc import key_slot
from redis.exceptions import RedisError

from threadkeeper import keys
from threadkeeper.errors import StoreOutcomeUnknown
from threadkeeper.idempotency import key_digest
from threadkeeper.store.masters import is_cluster_client, plain_client

# KEYS: meta, idem (records), recent, legacy idem (both generations).
# ARGV: idempotency key ('' = none), its digest (idempotency.key_digest), request id, now.
# 1 and a marker written when this master holds the append; 0 (nothing written) if not.
_CONFIRM = """
local found = false
if ARGV[1] ~= '' then
  local records = redis.call('HGET', KEYS[2], string.sub(ARGV[2], 1, 1)) or ''
  local at = string.find(records, ARGV[2], 1, true)
  while at and (at - 1) % 24 ~= 0 do  -- a record starts with its digest: idempotency.py
    at = string.find(records, ARGV[2], at + 1, true)
  end
  found = at ~= nil or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1
    or redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1
else
  local prefix = ARGV[3] .. '|'
  for _, record in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    if string.sub(record, 1, #prefix) == prefix then
      found = true
    end
  end
end
if not found then
  return 0
end
redis.call('HSET', KEYS[1], 'replicated_at', ARGV[4])
return 1
"""


@dataclass(frozen=True, slots=True)
class ReplicaAcks:
    redis: Any  # the hot store's client (a cluster client on a cluster)
    replicas: int
    timeout_ms: int

    async def confirm(self, k: keys.ThreadKeys, idem_key: str, request_id: str, now: int) -> None:
        """Return once `replicas` replicas hold the append; else StoreOutcomeUnknown."""
        client = await self._master_of(k.meta)
        try:
            async with client.pipeline(transaction=False) as pipe:
                names = [k.meta, k.idempotency, k.recent, k.legacy_idempotency,
                         k.legacy_idempotency_old]  # fmt: skip
                digest = key_digest(idem_key) if idem_key else b""
                pipe.eval(_CONFIRM, len(names), *names, idem_key, digest, request_id, now)
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
                held, acked = await pipe.execute()
        except RedisError as exc:
            raise self._unknown(f"the confirmation failed ({exc})") from exc
        if not int(held):
            raise self._unknown("its master no longer holds it (a failover lost it)")
        if int(acked) < self.replicas:
            raise self._unknown(
                f"{acked} of {self.replicas} replicas confirmed within {self.timeout_ms} ms"
            )

    async def _master_of(self, key: str) -> Any:
        """A connection to the master serving `key`: the one WAIT must run on."""
        if not is_cluster_client(self.redis):
            return self.redis
        return await plain_client(self.redis, key_slot(key.encode()))

    def _unknown(self, why: str) -> StoreOutcomeUnknown:
        return StoreOutcomeUnknown(
            f"the turns were stored on the Redis master, but not confirmed on "
            f"THREADKEEPER_REPLICA_ACKS={self.replicas} replicas: {why}. The outcome is "
            "unknown: retry with the same Idempotency-Key (the retry stores the turns once, "
            "or answers as the first attempt did)",
            retry=True,
        )
