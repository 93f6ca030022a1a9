"""Every Redis key and archive object name threadkeeper uses, built here and nowhere else.

A thread is identified by (tenant, id). All keys of one thread carry the hash tag
`{tenant:id}`, so they share one Redis Cluster slot and one Lua script can touch
them atomically. Tenants and ids are `[A-Za-z0-9_-]`, so `:` cannot be forged.

The indexes every write touches (activity, dirty, per-tenant listing, purges owed)
are split into INDEX_BUCKETS buckets, each under its own hash tag, so that on a
cluster no single slot (and no single master) takes every append. A thread's
entries all sit in one bucket, chosen from its member name: one slot per write.
The bucket tags are picked so their slots spread evenly over the 16384 slots,
hence over the masters of a cluster whose slots are split in even ranges.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from functools import cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

NAMESPACE = "tk"
MAX_ID = 128  # a tenant's or thread's id, in characters
ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID}}}")  # use fullmatch: `$` admits a final "\n"
ID_RULE = f"1-{MAX_ID} characters of A-Z, a-z, 0-9, '_' and '-'"  # what a refusal quotes
SNAPSHOT_SUFFIX = ".tks"

# Fixed, not a setting: a thread's bucket is derived from it, so changing it would
# orphan every index entry already written.
INDEX_BUCKETS = 16

CANARY = f"{NAMESPACE}:canary"  # restart-survival canary (hash)


def master_canary(tag: str) -> str:
    """One cluster master's canary: a tag whose slot that master serves (masters.py)."""
    return f"{CANARY}:{{{tag}}}"


SWEEPER_HEARTBEAT = f"{NAMESPACE}:sweeper"  # last sweep (hash)
# archive URL -> when it first held a verified snapshot (hash): a restart that finds such
# an archive's directory missing must not re-create it empty.
ARCHIVES = f"{NAMESPACE}:archives"
WORKER_COUNTERS = f"{NAMESPACE}:metrics"  # counters from worker processes (hash)

# The unsharded indexes of earlier versions, adopted into the buckets at start.
LEGACY_ACTIVITY_INDEX = f"{NAMESPACE}:idx:activity"
LEGACY_DIRTY_INDEX = f"{NAMESPACE}:idx:dirty"
LEGACY_PURGE_INDEX = f"{NAMESPACE}:idx:purge"
LEGACY_TENANT_INDEXES = f"{NAMESPACE}:idx:tenant:*"  # a SCAN pattern


@cache
def bucket_tag(bucket: int) -> str:
    """The hash tag of one index bucket: the first `b<n>.<i>` in the bucket's slot range."""
    span = REDIS_CLUSTER_HASH_SLOTS // INDEX_BUCKETS
    low, high = bucket * span, (bucket + 1) * span
    attempt = 0
    while not low <= key_slot(f"b{bucket}.{attempt}".encode()) < high:
        attempt += 1
    return f"b{bucket}.{attempt}"


def bucket_of(member: str) -> int:
    return zlib.crc32(member.encode()) % INDEX_BUCKETS


def activity_index(bucket: int) -> str:
    """member -> last touch (ms)."""
    return f"{NAMESPACE}:idx:{{{bucket_tag(bucket)}}}:activity"


def dirty_index(bucket: int) -> str:
    """member -> dirty since (ms)."""
    return f"{NAMESPACE}:idx:{{{bucket_tag(bucket)}}}:dirty"


def purge_index(bucket: int) -> str:
    """ "tenant:id:reason:at" -> at (ms): archive purges owed."""
    return f"{NAMESPACE}:idx:{{{bucket_tag(bucket)}}}:purge"


def feed_stream(bucket: int) -> str:
    """One bucket of the change feed (search/): a stream of thread events, ids only."""
    return f"{NAMESPACE}:idx:{{{bucket_tag(bucket)}}}:feed"


# Every feed_stream name, as a Lua pattern: how feed.lua tells the feed bucket among a
# script's keys (a tenant's listing may end in ':feed' too).
FEED_LUA_PATTERN = f"^{NAMESPACE}:idx:{{[^}}]*}}:feed$"


# Entries each feed bucket keeps at most (XADD MAXLEN ~), not a setting: the Lua scripts
# are loaded with it (scripts.py). An indexer that falls further behind sees the gap
# (XINFO's max-deleted-entry-id) and sweeps instead (search/indexer.py).
FEED_CAP = 100_000
META_PATTERN = f"{NAMESPACE}:{{*}}:meta"  # every thread's metadata hash (a SCAN pattern)


def tenant_index(tenant: str, bucket: int) -> str:
    """One bucket of a tenant's listing: id -> updated_at (ms)."""
    return f"{NAMESPACE}:idx:{{{bucket_tag(bucket)}}}:tenant:{tenant}"


def user_index(tenant: str, user_id: str, bucket: int) -> str:
    """One bucket of one user's listing inside a tenant: id -> updated_at (ms).

    In the tenant listing's bucket (same hash tag): a thread's entries share a slot.
    """
    return f"{tenant_index(tenant, bucket)}:user:{user_id}"


def metadata_index(tenant: str, key: str, value: str, bucket: int) -> str:
    """One bucket of the listing of a tenant's threads whose metadata `key` is `value`
    (settings: THREADKEEPER_INDEXED_METADATA). Keys and values may hold any character and
    be long: the name carries a digest of the pair."""
    digest = hashlib.sha256(f"{key}\0{value}".encode()).hexdigest()[:32]
    return f"{tenant_index(tenant, bucket)}:meta:{digest}"


BUCKETS = range(INDEX_BUCKETS)


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
        """The records of the keyed appends (hash of buckets: idempotency.py)."""
        return f"{NAMESPACE}:{self.tag}:idk"

    @property
    def legacy_idempotency(self) -> str:
        """Older versions' records: a hash, key -> "first:last:version:fingerprint"."""
        return f"{NAMESPACE}:{self.tag}:idem"

    @property
    def legacy_idempotency_old(self) -> str:
        """The previous generation of `legacy_idempotency` (the retired window)."""
        return f"{NAMESPACE}:{self.tag}:idem:old"

    @property
    def tombstone(self) -> str:
        return f"{NAMESPACE}:{self.tag}:tomb"

    @property
    def recent(self) -> str:
        """The last few keyless appends' request ids, so a resent write is not applied twice."""
        return f"{NAMESPACE}:{self.tag}:recent"

    @property
    def checkpoint_blobs(self) -> str:
        """LangGraph index (checkpoints/): where each channel version is stored, and how far
        the index has read the turns (hash)."""
        return f"{NAMESPACE}:{self.tag}:lg:blobs"

    @property
    def checkpoints(self) -> str:
        """LangGraph index: one member per checkpoint, `ns NUL id NUL seqs`, by name (zset)."""
        return f"{NAMESPACE}:{self.tag}:lg:ckpt"

    @property
    def checkpoint_writes(self) -> str:
        """LangGraph index: one member per pending write, `ns NUL id NUL task NUL idx NUL seq`."""
        return f"{NAMESPACE}:{self.tag}:lg:writes"

    @property
    def checkpoint_index(self) -> list[str]:
        """The LangGraph index keys: derived from the turns, rebuilt from them when lost."""
        return [self.checkpoint_blobs, self.checkpoints, self.checkpoint_writes]

    @property
    def member(self) -> str:
        """The thread's member name in the global indexes."""
        return f"{self.tenant}:{self.thread_id}"

    @property
    def bucket(self) -> int:
        return bucket_of(self.member)

    @property
    def activity(self) -> str:
        """The activity index bucket holding this thread."""
        return activity_index(self.bucket)

    @property
    def dirty(self) -> str:
        return dirty_index(self.bucket)

    @property
    def purges(self) -> str:
        return purge_index(self.bucket)

    @property
    def feed(self) -> str:
        """The change feed bucket that carries this thread's events."""
        return feed_stream(self.bucket)

    @property
    def listing(self) -> str:
        """The bucket of its tenant's listing that holds this thread."""
        return tenant_index(self.tenant, self.bucket)

    def user_listing(self, user_id: str) -> str:
        """The bucket of its owner's listing that holds this thread."""
        return user_index(self.tenant, user_id, self.bucket)

    def metadata_listing(self, key: str, value: str) -> str:
        return metadata_index(self.tenant, key, value, self.bucket)

    # The Lua scripts receive a thread's keys in one order, each script the part it needs
    # (bury.lua takes meta and tombstone; replication.py's probe lists its own):
    #   meta, turns, idempotency          `edited`: replace_turn, update_thread
    #   + legacy, legacy old              `hot` (+ the LangGraph index): touch, mark_archived,
    #                                     read_all
    #   + recent                          `appended`: append (its index buckets follow)
    #   + tombstone, the LangGraph index  `all`: create, delete, restore
    # and on a standalone Redis a feed writer gets the feed bucket last (ThreadStore.with_feed).

    @property
    def edited(self) -> list[str]:
        """meta, turns and the idempotency records: what the in-place edit scripts take."""
        return [self.meta, self.turns, self.idempotency]

    @property
    def hot(self) -> list[str]:
        """`edited`, the older forms of the records and the LangGraph index: what a TTL
        change touches, and what read_all reads."""
        return [*self.edited, self.legacy_idempotency, self.legacy_idempotency_old,
                *self.checkpoint_index]  # fmt: skip

    @property
    def appended(self) -> list[str]:
        """`edited`, the older forms of the records, then recent: what append.lua takes."""
        return [*self.edited, self.legacy_idempotency, self.legacy_idempotency_old,
                self.recent]  # fmt: skip

    @property
    def all(self) -> list[str]:
        """`appended`, then the tombstone and the LangGraph index (only delete.lua reads
        the index): every key of the thread, as create, delete and restore take them."""
        return [*self.appended, self.tombstone, *self.checkpoint_index]


def thread_keys(tenant: str, thread_id: str) -> ThreadKeys:
    return ThreadKeys(tenant, thread_id)


def from_member(member: str) -> ThreadKeys:
    tenant, _, thread_id = member.partition(":")
    return ThreadKeys(tenant, thread_id)


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
