"""Redis clients, and the one place where redis-py's errors become ours."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)
from redis.retry import Retry

from threadkeeper.errors import StoreError, StoreFull, StoreOutcomeUnknown, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")

RETRY_ON = (ConnectionError, TimeoutError, BusyLoadingError)


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def async_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """The API's client: hiredis-parsed, retrying transient errors with redis-py's Retry.

    The asyncio client needs redis-py's asyncio Retry: the sync class never catches.
    """
    return redis.asyncio.Redis.from_url(
        url,
        retry=AsyncRetry(_backoff(), retries=5),
        retry_on_error=list(RETRY_ON),
        health_check_interval=30,
        socket_connect_timeout=5,
        **options,
    )


def sync_client(url: str, **options: Any) -> redis.Redis:
    """RQ's client (RQ is synchronous); same retry policy."""
    return redis.Redis.from_url(
        url,
        retry=Retry(_backoff(), retries=5),
        retry_on_error=list(RETRY_ON),
        socket_connect_timeout=5,
        **options,
    )


def _describe(exc: Exception) -> StoreError:
    text = str(exc)
    if isinstance(exc, BusyLoadingError):
        return StoreUnavailable(
            "Redis is loading its data after a restart; retry in a few seconds", retry=True
        )
    if isinstance(exc, ConnectionError | TimeoutError):
        return _unreachable(text)
    if text.startswith("OOM") or "maxmemory" in text:
        return StoreFull(
            "Redis is at maxmemory and refuses writes (nothing was stored; nothing stored "
            "before is lost; reads still work): raise Redis maxmemory (CONFIG SET maxmemory), "
            "then keep it clear by archiving cold threads (threadkeeper archive --cold) and "
            "a shorter THREADKEEPER_HOT_TTL",
        )
    if isinstance(exc, ReadOnlyError):
        return StoreUnavailable(
            "Redis is a read-only replica: point THREADKEEPER_REDIS_URL at the primary"
        )
    if "MISCONF" in text:
        return StoreUnavailable(
            "Redis cannot persist to disk and refuses writes (MISCONF): check its disk and log",
        )
    return StoreError(f"Redis answered an error: {text}")


def _unreachable(text: str) -> StoreUnavailable:
    # redis-py says "... connecting to host:port" when the connection could not be made:
    # nothing was sent. Any other drop (a read timeout, a closed connection) came after
    # the command went out, and Redis may have run it.
    if "connecting to" in text:
        return StoreUnavailable(
            f"Redis is unreachable ({text}); nothing was sent, so nothing was stored: "
            "retry it (with the same Idempotency-Key)",
            retry=True,
            outcome="not_stored",
        )
    return StoreOutcomeUnknown(
        f"Redis stopped answering after the request was sent ({text}): it may have been "
        "stored. Retry with the same Idempotency-Key, which answers with what was stored "
        "(without a key, read the thread before resending)",
        retry=True,
        outcome="unknown",
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    """Translate redis-py errors into threadkeeper's, once, at the boundary."""
    try:
        yield
    except (ConnectionError, TimeoutError, ResponseError) as exc:
        raise _describe(exc) from exc


def translated(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with redis_errors():
            return await func(*args, **kwargs)

    return wrapper
