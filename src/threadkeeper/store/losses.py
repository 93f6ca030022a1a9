"""A data loss the restart canary recorded, and its settling.

When Redis comes back without its data, the canary records `data_lost_at`
(canary.py) and health is failing until the loss is dealt with: `threadkeeper
recover` rebuilt what the archive holds (it settles the losses it saw before it
started, when no thread failed), or an operator acknowledged it with `threadkeeper
health --acknowledge-loss`. Settling writes into the canary which loss (its
`data_lost_at`), by what and when; a later loss has another `data_lost_at` and is
unsettled again. On a cluster each master's canary records its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadkeeper.models import now_ms
from threadkeeper.store.canary import check
from threadkeeper.store.connection import translated
from threadkeeper.store.masters import masters

RECOVERED = "recover"
ACKNOWLEDGED = "acknowledged"

# KEYS: canary. ARGV: the data_lost_at being settled, by, now_ms. Only that loss: one
# recorded meanwhile (another restart without data) stays unsettled.
_SETTLE = """
if redis.call('HGET', KEYS[1], 'data_lost_at') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'loss_settled_for', ARGV[1], 'loss_settled_by', ARGV[2],
           'loss_settled_at', ARGV[3])
return 1
"""


@dataclass(frozen=True, slots=True)
class Loss:
    """A restart of one master (address; '' standalone) that lost its data at `lost_at` (ms)."""

    master: str
    lost_at: int


@translated
async def unsettled_losses(client: Any) -> list[Loss]:
    """Every master's recorded loss that nothing has dealt with yet."""
    found = []
    for master in await masters(client):
        report = await check(master.client, master.canary_key)
        if report.unsettled_loss and report.data_lost_at is not None:
            found.append(Loss(master.address, report.data_lost_at))
    return found


@translated
async def settle(client: Any, losses: list[Loss], by: str) -> list[Loss]:
    """Mark these losses dealt with `by` (recover | acknowledged); the ones still current."""
    wanted = {loss.master: loss for loss in losses}
    settled = []
    for master in await masters(client):
        loss = wanted.get(master.address)
        if loss is None:
            continue
        done = await master.client.eval(
            _SETTLE, 1, master.canary_key, str(loss.lost_at), by, now_ms()
        )
        if done:
            settled.append(loss)
    return settled
