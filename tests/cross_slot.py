"""What the every-route and every-command tests look for on the cluster: cross-slot traces.

A key of another slot inside one script or transaction is refused by Redis Cluster
(CROSSSLOT), and a standalone client talking to a cluster meets MOVED: either
surfaces as a 5xx, in a body, or in a log line. These helpers look for them.
"""

from __future__ import annotations

import logging
import re

from redis_cluster import RedisCluster
from threadkeeper import keys

# Case matters for MOVED and ASK: "moved" is a snapshot outcome (metrics, archive answers).
# redis-py's MovedError reads "<slot> <host>:<port>" without the word (issue 13's 503).
_EXACT = re.compile(
    r"CROSSSLOT|\bMOVED\b|\bASK \d|\b\d{1,5} (?:\d{1,3}\.){3}\d{1,3}:\d+|"
    r"\b\d{1,5} localhost:\d+|RedisClusterException|ClusterDownError"
)
_ANY_CASE = re.compile(r"cross-?slot|to the same (?:key )?slot", re.IGNORECASE)


def cross_slot_traces(text: str) -> list[str]:
    """The lines of `text` that look like a cross-slot or redirect error."""
    return [line.strip()[:300] for line in text.splitlines()
            if _EXACT.search(line) or _ANY_CASE.search(line)]  # fmt: skip


_FORMATTER = logging.Formatter()


def bad_records(records: list[logging.LogRecord]) -> list[str]:
    """Log records at ERROR or above, or naming a cross-slot error."""
    bad = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + _FORMATTER.formatException(record.exc_info)
        if record.levelno >= logging.ERROR or cross_slot_traces(text):
            bad.append(f"{record.levelname} {record.name}: {text[:500]}")
    return bad


def one_per_master(
    cluster: RedisCluster, tenant: str, prefix: str, per_master: int = 1
) -> list[str]:
    """Thread ids `prefix<n>` chosen so that every master holds `per_master` of them."""
    candidates = [f"{prefix}{n}" for n in range(64 * per_master)]
    ports = cluster.master_ports([keys.thread_keys(tenant, t).meta for t in candidates])
    chosen: dict[int, list[str]] = {m.port: [] for m in cluster.masters()}
    for thread_id, port in zip(candidates, ports, strict=True):
        if len(chosen[port]) < per_master:
            chosen[port].append(thread_id)
    assert all(len(ids) == per_master for ids in chosen.values()), chosen
    return [thread_id for ids in chosen.values() for thread_id in ids]
