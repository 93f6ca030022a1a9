"""Which threads a caller may touch: the one check every thread lookup goes through.

A user caller (a token made with `--user`) sees the threads it owns and nothing else:
another user's thread, and a thread no user owns, answer exactly as an id never stored
(the same 404, nothing in listings); what it creates is its own. A tenant-wide caller
sees the whole tenant. Every surface (API routes, the Conversations API, the console,
and any new one) resolves its credentials to a `models.Caller` and asks here before it
hands a thread id to the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import msgspec

from threadkeeper.errors import Forbidden, ThreadNotFound
from threadkeeper.models import Caller
from threadkeeper.store.paging import ThreadQuery
from threadkeeper.store.thread_store import ThreadStore
from threadkeeper.wire.shapes import NewThread

NeverStored = Callable[[str, str], Awaitable[ThreadNotFound]]


class ThreadAccess:
    """Checks a caller against a thread's owner; costs nothing for a tenant-wide caller."""

    def __init__(self, store: ThreadStore, never_stored: NeverStored) -> None:
        self.store = store
        self.never_stored = never_stored

    async def check(self, caller: Caller, thread_id: str) -> None:
        """Raise the 404 of an id never stored unless `caller` may see `thread_id`.

        A user caller's own deleted thread passes (its tombstone keeps the owner), so the
        service then says when and why it went.
        """
        if caller.tenant_wide:
            return
        held, owner = await self.store.owner(caller.tenant, thread_id)
        if not (held and caller.sees(owner)):
            raise await self.never_stored(caller.tenant, thread_id)

    def owned(self, caller: Caller, new: NewThread) -> NewThread:
        """A new thread as `caller` may create it: a user caller's is its own."""
        if caller.tenant_wide or new.user_id == caller.user_id:
            return new
        if new.user_id is not None:
            raise _other_user(caller, "create a thread for")
        return msgspec.structs.replace(new, user_id=caller.user_id)

    def listing(self, caller: Caller, page: ThreadQuery) -> ThreadQuery:
        """The listing `caller` may see: a user caller's own threads only."""
        owner = self.owner_filter(caller, page.user_id, "list the threads of")
        return page if owner == page.user_id else replace(page, user_id=owner)

    def owner_filter(self, caller: Caller, asked: str | None, what: str) -> str | None:
        """The owner a listing or search by `caller` narrows to: what a tenant-wide caller
        asked (None: every thread, owned or not); a user caller's own id, whatever it
        asked (another user's: 403, saying it cannot `what` them)."""
        if caller.tenant_wide or asked == caller.user_id:
            return asked
        if asked is not None:
            raise _other_user(caller, what)
        return caller.user_id

    def reassign(self, caller: Caller) -> None:
        """Only a tenant-wide caller may change who owns a thread."""
        if not caller.tenant_wide:
            raise Forbidden(
                f"this token acts as user {caller.user_id!r}: only a tenant-wide token (made "
                "without --user) may change a thread's user_id",
                user_id=caller.user_id,
            )


def _other_user(caller: Caller, what: str) -> Forbidden:
    return Forbidden(
        f"this token acts as user {caller.user_id!r} and cannot {what} another user: "
        f"leave user_id out (the thread is then {caller.user_id!r}'s) or use a tenant-wide "
        "token",
        user_id=caller.user_id,
    )
