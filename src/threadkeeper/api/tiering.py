"""Routes that move a thread between tiers on request (archive now, rehydrate now)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from threadkeeper import keys
from threadkeeper.jobs.queue import archive_job_id, enqueue, make_queue
from threadkeeper.models import Thread, ThreadState
from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_connection
from threadkeeper.tiering import Rehydrated
from threadkeeper.web import (
    app_settings,
    choice_param,
    thread_service,
    visible_thread,
    wire_response,
)
from threadkeeper.wire.shapes import ArchiveDone, ArchiveQueued, RehydrateDone
from threadkeeper.wire.threads import thread_info


def _queue_archive(settings: Settings, member: str, version: int) -> tuple[str, bool]:
    """Enqueue an archive of this version (once, however often asked); a short-lived client."""
    job_id = archive_job_id(member, version)
    with queue_connection(settings) as connection:
        queued = enqueue(make_queue(settings, connection), "archive_batch", [[member]],
                         job_id, settings)  # fmt: skip
    return job_id, queued


async def archive_thread(request: Request) -> Response:
    """202 with the job queued, or with `?wait=true` 200 once the snapshot is verified."""
    tenant, thread_id = await visible_thread(request)
    thread = await thread_service(request).tiers.archivable(tenant, thread_id)
    if choice_param(request, "wait", ("true", "false"), "false") == "true":
        return await _archive_now(request, thread)
    job_id, queued = await asyncio.to_thread(
        _queue_archive,
        app_settings(request),
        keys.thread_keys(tenant, thread_id).member,
        thread.version,
    )
    body = ArchiveQueued(status="queued" if queued else "already_queued", job_id=job_id,
                         version=thread.version)  # fmt: skip
    return wire_response(body, status_code=202)


async def _archive_now(request: Request, thread: Thread) -> Response:
    service = thread_service(request)
    status, thread = await service.tiers.archive_now(thread)
    body = ArchiveDone(status=status, thread=thread_info(thread, await service.tiers.state(thread)))
    return wire_response(body)


async def rehydrate_thread(request: Request) -> Response:
    """200 with the thread back in Redis, or what nothing holds any more (degraded)."""
    tenant, thread_id = await visible_thread(request)
    outcome, thread = await thread_service(request).tiers.rehydrate_named(tenant, thread_id)
    return _rehydrated(outcome, thread)


def _rehydrated(outcome: Rehydrated, thread: Thread) -> Response:
    lost = outcome.missing is not None
    state = ThreadState.ARCHIVED if lost else ThreadState.HOT
    body = RehydrateDone(status=outcome.status, thread=thread_info(thread, state))
    headers: dict[str, str] = {}
    if outcome.missing is not None:
        first, last = outcome.missing
        body.missing_turns = [first, last]
        headers["Threadkeeper-Degraded"] = f"missing-turns={first}-{last}"
    return wire_response(body, headers=headers)


routes: list[BaseRoute] = [
    Route("/v1/threads/{thread_id}/archive", archive_thread, methods=["POST"]),
    Route("/v1/threads/{thread_id}/rehydrate", rehydrate_thread, methods=["POST"]),
]
