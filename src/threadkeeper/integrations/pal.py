"""PAL's conversation memory in threadkeeper: `install()` and PAL's threads outlive restarts.

PAL (pal-mcp-server, formerly zen-mcp-server) keeps each thread as one JSON blob under
`thread:<uuid>` in a process-local dict with a TTL, reached through
`utils.storage_backend.get_storage_backend()`. `PalStorage` is that storage interface
(`get`, `setex`, `set_with_ttl`, `shutdown`) over threadkeeper:

- the first write of a blob creates the thread (idempotently); each later write appends
  only the turns threadkeeper does not hold yet, with an Idempotency-Key derived from the
  thread, the position and the turns, and `expected_version`; on a conflict it re-reads
  and appends what is still missing, so two PAL processes writing one thread never lose
  or duplicate a turn (a stale writer's new turn lands after the other's);
- `get` rebuilds the exact JSON PAL wrote (see `_pal_format`); a thread threadkeeper does
  not have is `None`, PAL's "not found"; any other failure raises, so PAL reports a
  storage error instead of silently starting a new conversation;
- PAL's TTL is not a deletion deadline: threadkeeper's hot TTL, archive and retention
  apply (THREADKEEPER_HOT_TTL, THREADKEEPER_RETENTION...).

Run PAL with it: `python -m threadkeeper.integrations.pal` in PAL's environment (PAL's
own `server.run()` after `install()`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from typing import Any

from threadkeeper.client import (
    Client,
    Thread,
    ThreadExists,
    ThreadkeeperError,
    ThreadNotFound,
    Turn,
    VersionConflict,
)  # fmt: skip
from threadkeeper.integrations import _pal_format as fmt

KEY_PREFIX = "thread:"
PAGE = 1000
BATCH_BYTES = 2 * 1024 * 1024  # per request: far inside THREADKEEPER_MAX_BODY_BYTES' default
MAX_ROUNDS = 50  # re-reads after conflicts before giving up (each one means progress elsewhere)


class PalStorageError(ThreadkeeperError):
    """A thread PAL cannot be given faithfully (turns lost, a blob that rewrites history)."""


class PalStorage:
    """PAL's storage interface backed by threadkeeper; url and token default to the env."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *,
                 client: Client | None = None) -> None:  # fmt: skip
        self.client = client if client is not None else Client(base_url, token)

    # -- PAL's interface ------------------------------------------------------------

    def get(self, key: str) -> str | None:
        state = self._read(_thread_id(key))
        return None if state is None else fmt.rebuild(*state)

    def setex(self, key: str, ttl_seconds: int, value: str) -> None:
        """Store the blob; the TTL is not used (threadkeeper's own tiering applies)."""
        thread_id = _thread_id(key)
        blob = json.loads(value)
        if blob.get("thread_id", thread_id) != thread_id:
            raise ValueError(f"the blob under {key!r} is for thread {blob.get('thread_id')!r}")
        for _ in range(MAX_ROUNDS):
            try:
                self._write(thread_id, blob)
                return
            except (VersionConflict, ThreadExists):
                continue  # another writer moved the thread on: read again, append what is left
        raise PalStorageError(f"thread {thread_id!r} kept changing under {MAX_ROUNDS} writes")

    def set_with_ttl(self, key: str, ttl_seconds: int, value: str) -> None:
        self.setex(key, ttl_seconds, value)

    def shutdown(self) -> None:
        self.client.close()

    # -- the work -------------------------------------------------------------------

    def _read(self, thread_id: str) -> tuple[Thread, list[Turn]] | None:
        try:
            page = self.client.page(thread_id, limit=PAGE)
        except ThreadNotFound:
            return None
        turns = list(page.turns)
        while page.next and page.missing_turns is None:
            page = self.client.page(thread_id, cursor=page.next, limit=PAGE)
            turns += page.turns
        if page.missing_turns is not None:
            first, last = page.missing_turns
            raise PalStorageError(
                f"turns {first}-{last} of thread {thread_id!r} are held nowhere any more "
                "(Redis lost them and the archive is behind); PAL cannot continue it faithfully"
            )
        return page.thread, turns

    def _write(self, thread_id: str, blob: dict[str, Any]) -> None:
        context = fmt.context_turns(blob.get("initial_context", {}))
        wanted = [fmt.pal_turn(t, blob.get("last_updated_at")) for t in blob.get("turns", [])]
        state = self._read(thread_id)
        if state is None:
            self._create(thread_id, blob, context, wanted)
            return
        thread, stored = state
        missing = _missing_turns(thread, stored, context, blob.get("turns", []), wanted)
        self._append(thread_id, len(stored), thread.version, missing)

    def _create(self, thread_id: str, blob: dict[str, Any], context: list[dict[str, Any]],
                turns: list[dict[str, Any]]) -> None:  # fmt: skip
        first, *rest = _batches([*context, *turns])
        metadata = fmt.thread_metadata(blob, len(context))
        tool = blob.get("tool_name")
        body = {"metadata": metadata, "turns": first, "tool": tool}
        key = _key(thread_id, "create", body)
        # Created meanwhile by another writer: ThreadExists, and setex reads and appends.
        created = self.client.create(id=thread_id, tool=tool if fmt.label_fits(tool) else None,
                                     metadata=metadata, turns=first,
                                     idempotency_key=key)  # fmt: skip
        seq, version = len(first), created.version
        for batch in rest:
            version = self._append_batch(thread_id, seq, version, batch)
            seq += len(batch)

    def _append(self, thread_id: str, seq: int, version: int, turns: list[dict[str, Any]]) -> None:
        for batch in _batches(turns) if turns else []:
            version = self._append_batch(thread_id, seq, version, batch)
            seq += len(batch)

    def _append_batch(
        self, thread_id: str, seq: int, version: int, batch: list[dict[str, Any]]
    ) -> int:
        key = _key(thread_id, str(seq), batch)
        return self.client.append(thread_id, batch, expected_version=version,
                                  idempotency_key=key).version  # fmt: skip


def _missing_turns(
    thread: Thread, stored: list[Turn], context: list[dict[str, Any]],
    pal_turns: Sequence[dict[str, Any]], wanted: list[dict[str, Any]],
) -> list[dict[str, Any]]:  # fmt: skip
    """What of this blob threadkeeper lacks: PAL turns past the common history, not held."""
    count = int(thread.metadata.get("pal", {}).get("context_turns", len(context)))
    held_context = [t for t in stored[:count] if fmt.is_context_turn(t)]
    if [t.content for t in held_context] != [t["content"] for t in context[: len(held_context)]]:
        raise PalStorageError(
            f"thread {thread.id!r}: this blob's initial_context differs from the stored one; "
            "PalStorage only appends turns to a thread, it never rewrites one"
        )
    if len(held_context) < count:  # a create cut short: the rest of the context first
        return [*context[len(held_context) :], *wanted]
    held = [json.dumps(fmt.pal_fields(t), sort_keys=True) for t in stored[count:]]
    given = [json.dumps(t, sort_keys=True) for t in pal_turns]
    common = 0
    while common < min(len(held), len(given)) and held[common] == given[common]:
        common += 1
    later = set(held[common:])
    return [w for g, w in zip(given[common:], wanted[common:], strict=True) if g not in later]


def _batches(turns: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for turn in turns:
        cost = len(fmt.dumps(turn).encode())
        if batches[-1] and size + cost > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(turn)
        size += cost
    return batches


def _key(thread_id: str, where: str, payload: object) -> str:
    digest = hashlib.sha256(f"{thread_id}\0{where}\0{fmt.dumps(payload)}".encode()).hexdigest()
    return f"pal-{digest[:48]}"


def _thread_id(key: str) -> str:
    if not key.startswith(KEY_PREFIX):
        raise ValueError(f"PalStorage holds PAL threads (keys {KEY_PREFIX}<id>), not {key!r}")
    return key[len(KEY_PREFIX) :]


def install(storage: PalStorage | None = None) -> PalStorage:
    """Make PAL's `get_storage_backend()` return `storage` (default: PalStorage() from env)."""
    backend = importlib.import_module("utils.storage_backend")
    chosen = storage if storage is not None else PalStorage()
    backend._storage_instance = chosen  # type: ignore[attr-defined]
    backend.get_storage_backend = lambda: chosen  # type: ignore[attr-defined]
    return chosen


def main() -> None:
    """Start PAL's MCP server with its conversation memory in threadkeeper."""
    install()
    importlib.import_module("server").run()


if __name__ == "__main__":
    main()
