"""Every Redis key and archive object name threadkeeper uses, built here and nowhere else.

A thread is identified by (tenant, id). All keys of one thread carry the hash tag
`{tenant:id}`, so they share one Redis Cluster slot and one Lua script can touch
them atomically. Tenants and ids are `[A-Za-z0-9_-]`, so `:` cannot be forged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE = "tk"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SNAPSHOT_SUFFIX = ".tks"

ACTIVITY_INDEX = f"{NAMESPACE}:idx:activity"  # member -> last touch (ms)
DIRTY_INDEX = f"{NAMESPACE}:idx:dirty"  # member -> dirty since (ms)
CANARY = f"{NAMESPACE}:canary"  # restart-survival canary (hash)
SWEEPER_HEARTBEAT = f"{NAMESPACE}:sweeper"  # last sweep (hash)
WORKER_COUNTERS = f"{NAMESPACE}:metrics"  # counters from worker processes (hash)
PURGE_INDEX = f"{NAMESPACE}:idx:purge"  # "tenant:id:reason:at" -> at (ms): archive purges owed


@dataclass(frozen=True, slots=True)
class ThreadKeys:
    """The keys of one thread."""

    tenant: str
    thread_id: str

    @property
    def tag(self) -> str:
        return f"{{{self.tenant}:{self.thread_id}}}"

    @property
    def meta(self) -> str:
        return f"{NAMESPACE}:{self.tag}:meta"

    @property
    def turns(self) -> str:
        return f"{NAMESPACE}:{self.tag}:turns"

    @property
    def idempotency(self) -> str:
        return f"{NAMESPACE}:{self.tag}:idem"

    @property
    def tombstone(self) -> str:
        return f"{NAMESPACE}:{self.tag}:tomb"

    @property
    def recent(self) -> str:
        """The last few keyless appends' request ids, so a resent write is not applied twice."""
        return f"{NAMESPACE}:{self.tag}:recent"

    @property
    def member(self) -> str:
        """The thread's member name in the global indexes."""
        return f"{self.tenant}:{self.thread_id}"

    @property
    def all(self) -> list[str]:
        """The thread's own keys, in the order every Lua script receives them."""
        return [self.meta, self.turns, self.idempotency, self.tombstone, self.recent]


def thread_keys(tenant: str, thread_id: str) -> ThreadKeys:
    return ThreadKeys(tenant, thread_id)


def from_member(member: str) -> ThreadKeys:
    tenant, _, thread_id = member.partition(":")
    return ThreadKeys(tenant, thread_id)


def tenant_index(tenant: str) -> str:
    """Per-tenant listing: id -> updated_at (ms)."""
    return f"{NAMESPACE}:idx:tenant:{tenant}"


SNAPSHOTS = "threads/"
TOMBSTONES = "tombstones/"


def snapshot_prefix(tenant: str, thread_id: str) -> str:
    return f"{SNAPSHOTS}{tenant}/{thread_id}/"


def snapshot_key(tenant: str, thread_id: str, created_at: int, version: int) -> str:
    """One immutable object per version; `created_at` keeps a re-created id's apart."""
    name = f"{created_at:013d}-{version:012d}{SNAPSHOT_SUFFIX}"
    return f"{snapshot_prefix(tenant, thread_id)}{name}"


def tombstone_prefix(tenant: str, thread_id: str) -> str:
    return f"{TOMBSTONES}{tenant}/{thread_id}/"


def tombstone_object(tenant: str, thread_id: str, at: int) -> str:
    """Tombstones are separate objects so a re-created thread's snapshots never collide."""
    return f"{tombstone_prefix(tenant, thread_id)}{at:013d}.json"


def parse_object_key(key: str) -> tuple[str, str, str] | None:
    """`threads/<tenant>/<id>/<name>` or `tombstones/...` -> (tenant, id, name)."""
    parts = key.split("/")
    if len(parts) != 4 or f"{parts[0]}/" not in (SNAPSHOTS, TOMBSTONES):
        return None
    return parts[1], parts[2], parts[3]


def snapshot_version(key: str) -> tuple[int, int] | None:
    """(created_at, version) from a snapshot's key; None for anything else."""
    name = key.rsplit("/", 1)[-1]
    stem, dash, version = name.removesuffix(SNAPSHOT_SUFFIX).partition("-")
    if not name.endswith(SNAPSHOT_SUFFIX) or not dash or not (stem + version).isdigit():
        return None
    return int(stem), int(version)
