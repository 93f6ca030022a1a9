"""A thread's records (models.Thread) in the shapes the API, the CLI and exports show."""

from __future__ import annotations

from typing import Any

import msgspec

from threadkeeper.models import Thread, ThreadState, rfc3339
from threadkeeper.wire.shapes import PossiblyMissing, ThreadInfo


def thread_info(thread: Thread, state: ThreadState) -> ThreadInfo:
    """The thread as the API shows it."""
    return ThreadInfo(
        id=thread.id, tenant=thread.tenant, title=thread.title, tool=thread.tool,
        metadata=thread.metadata, created_at=rfc3339(thread.created_at),
        updated_at=rfc3339(thread.updated_at), turn_count=thread.turn_count,
        bytes=thread.byte_count, version=thread.version, parent_id=thread.parent_id,
        fork_seq=thread.fork_seq, state=state, archived_version=thread.archived_version,
        archived_at=rfc3339(thread.archived_at), possibly_missing=_gap(thread),
        user_id=thread.user_id,
    )  # fmt: skip


def thread_public(thread: Thread, state: ThreadState) -> dict[str, Any]:
    """The thread as the API shows it, as a dict (the CLI's JSON output)."""
    return msgspec.structs.asdict(thread_info(thread, state))


def _gap(thread: Thread) -> PossiblyMissing | None:
    if thread.gap_after is None or thread.gap_until is None:
        return None
    lost_at = rfc3339(thread.gap_until)
    return PossiblyMissing(
        after_seq=thread.gap_after, lost_at=lost_at,
        detail=f"turns written after seq {thread.gap_after} and before {lost_at} may be "
        f"missing: Redis lost its data then, and this thread came back from a snapshot "
        f"taken before. Turns after seq {thread.gap_after} shown here were written after "
        "that restart",
    )  # fmt: skip
