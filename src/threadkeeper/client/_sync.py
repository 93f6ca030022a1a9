"""The synchronous client: `with Client() as tk: tk.create(...)`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from threadkeeper.client import _base as b
from threadkeeper.client import _decode as decode
from threadkeeper.client._types import (
    Appended,
    Archived,
    Context,
    Order,
    Page,
    Rehydrated,
    SearchResults,
    Thread,
    ThreadList,
    Turn,
)  # fmt: skip


class Client:
    """threadkeeper over HTTP; `url` and `token` default to THREADKEEPER_URL, THREADKEEPER_TOKEN.

    Creates and appends carry an Idempotency-Key (one per call, or the caller's), so the
    retries on connection errors, timeouts, 502/503/504 and 429 never store a turn twice.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: b.Retries | None = None,
    ) -> None:
        self.url = b.base_url(url)
        self.retries = retries or b.Retries()
        self._http = httpx.Client(base_url=self.url, headers=b.auth_headers(token), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: b.Call) -> httpx.Response:
        for attempt in range(self.retries.attempts):
            last = attempt == self.retries.attempts - 1
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, json=call.body,
                    headers=call.headers,
                )  # fmt: skip
            except httpx.TransportError as exc:
                if last or not b.should_retry_error(call, exc):
                    raise b.error_for_transport(call, self.url, exc) from exc
                time.sleep(self.retries.delay(attempt))
                continue
            if response.is_success:
                return response
            if last or not b.should_retry_answer(call, response):
                raise b.error_for_answer(call, response)
            time.sleep(self.retries.delay(attempt, b.retry_after(response)))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def create(
        self,
        id: str | None = None,
        *,
        title: str | None = None,
        tool: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        turns: Sequence[b.TurnInput] | None = None,
        idempotency_key: str | None = None,
        user_id: str | None = None,
    ) -> Thread:
        call = b.create_call(id, title, tool, metadata, turns, idempotency_key, user_id)
        return decode.page(self._send(call).content).thread

    def append(
        self,
        thread_id: str,
        turns: Sequence[b.TurnInput],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Appended:
        call = b.append_call(thread_id, turns, expected_version, idempotency_key)
        return b.appended(self._send(call))

    def page(
        self,
        thread_id: str,
        *,
        order: Order = "asc",
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page of turns, with the thread and any `missing_turns`."""
        call = b.page_call(thread_id, order, after, before, limit, cursor)
        return decode.page(self._send(call).content)

    def turns(
        self,
        thread_id: str,
        *,
        order: Order = "asc",
        after: int | None = None,
        before: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Turn]:
        """Every turn in `order`, following the cursors page after page."""
        page = self.page(thread_id, order=order, after=after, before=before, limit=page_size)
        yield from page.turns
        while page.next:
            page = self.page(thread_id, cursor=page.next, limit=page_size)
            yield from page.turns

    def get(self, thread_id: str) -> Thread:
        return self.page(thread_id, limit=1).thread

    def threads(
        self,
        *,
        tool: str | None = None,
        prefix: str | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Thread]:
        """The tenant's threads, most recently updated first, all pages (a filtered page may
        come back empty with more to follow: this follows every cursor)."""
        filters = b.ThreadFilter(tool, prefix, updated_after, updated_before, user_id, metadata)
        cursor: str | None = None
        while True:
            body = self._send(b.list_call(filters, page_size, cursor)).json()
            yield from (Thread.from_json(t) for t in body["threads"])
            cursor = body.get("next")
            if not cursor:
                return

    def thread_page(
        self,
        *,
        tool: str | None = None,
        prefix: str | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ThreadList:
        """One page of the tenant's threads, most recently updated first; `next` for the rest."""
        filters = b.ThreadFilter(tool, prefix, updated_after, updated_before)
        return ThreadList.from_json(self._send(b.list_call(filters, limit, cursor)).json())

    def search(
        self,
        q: str,
        *,
        tool: str | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SearchResults:
        """One page of the turns that say `q` (words, "phrases", prefix*), best first; pass
        the page's `next` as `cursor` for the following one (GET /v1/search)."""
        filters = b.SearchFilter(tool, updated_after, updated_before, user_id)
        return SearchResults.from_json(self._send(b.search_call(q, filters, limit, cursor)).json())

    def fork(self, thread_id: str, at_seq: int, *, id: str | None = None) -> Thread:
        return decode.page(self._send(b.fork_call(thread_id, at_seq, id)).content).thread

    def context(self, thread_id: str, max_tokens: int) -> Context:
        return decode.context(self._send(b.context_call(thread_id, max_tokens)).content)

    def delete(self, thread_id: str) -> None:
        self._send(b.delete_call(thread_id))

    def archive(self, thread_id: str, *, wait: bool = False) -> Archived:
        return Archived.from_json(self._send(b.archive_call(thread_id, wait)).json())

    def rehydrate(self, thread_id: str) -> Rehydrated:
        return Rehydrated.from_json(self._send(b.rehydrate_call(thread_id)).json())

    def request(
        self, method: str, path: str, *, params: Mapping[str, object] | None = None,
        json: Any = None,
    ) -> Any:  # fmt: skip
        """Any route by its path, for routes whose resend is harmless (reads, and writes the
        server makes idempotent, as the checkpoint routes); its JSON answer, or None."""
        response = self._send(b.raw_call(method, path, params, json))
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        """The restart-survival report (GET /v1/health)."""
        report: dict[str, Any] = self._send(b.health_call()).json()
        return report
