"""Redis clients, and the one place where redis-py's errors become ours.

Which client depends on what the URL points at: a node of a Redis Cluster
(`INFO cluster` says `cluster_enabled:1`) gets redis-py's cluster client, which
follows MOVED and ASK, loads scripts on every master and groups a pipeline's
commands by master; anything else gets the plain client.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import hiredis
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis._parsers.helpers import parse_stream_list
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    DataError,
    MovedError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
)
from redis.retry import Retry

from threadkeeper.errors import (
    ConfigError,
    StoreError,
    StoreFull,
    StoreOutcomeUnknown,
    StoreUnavailable,
)
from threadkeeper.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

RETRY_ON = (ConnectionError, TimeoutError, BusyLoadingError)


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


HotClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
SyncHotClient = redis.Redis | redis.cluster.RedisCluster

_clusters: dict[str, bool] = {}  # url -> is a cluster, once a node has said


def is_cluster(url: str, variable: str = "THREADKEEPER_REDIS_URL") -> bool:
    """Whether `url` names a node of a Redis Cluster; a cluster must serve every slot.

    Asked once per URL per process. An unreachable Redis is taken for a standalone
    one (a process may start before its Redis): a cluster then answers MOVED, and
    that error says to restart the process once the cluster is up.
    """
    if url in _clusters:
        return _clusters[url]
    probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        enabled = int(probe.info("cluster").get("cluster_enabled", 0)) == 1
        if enabled:
            _check_coverage(probe.cluster("info"), variable, url)
    except (ConnectionError, TimeoutError):
        return False
    finally:
        probe.close()
    _clusters[url] = enabled
    return enabled


def _check_coverage(info: dict[str, Any], variable: str, url: str) -> None:
    served = int(info.get("cluster_slots_ok", 0))
    if info.get("cluster_state") != "ok" or served < 16384:
        raise ConfigError(
            f"{variable}={url} names a Redis Cluster that serves {served} of the 16384 "
            f"slots (cluster_state:{info.get('cluster_state')}): every slot needs a "
            "master before threadkeeper can use it; assign the missing ones "
            "(redis-cli --cluster fix <host:port>), then start again"
        )


def _policy(retry: Retry | AsyncRetry) -> dict[str, Any]:
    return {"retry": retry, "retry_on_error": list(RETRY_ON), "socket_connect_timeout": 5}


def async_client(url: str, *, cluster: bool | None = None, **options: Any) -> Any:
    """The API's client: hiredis-parsed, retrying transient errors with redis-py's Retry.

    The asyncio client needs redis-py's asyncio Retry: the sync class never catches.
    A cluster client retries MOVED/ASK and a lost node itself (its Retry, here the
    same backoff), reloading the slot map in between. `cluster` None: ask the URL.
    A standalone client also packs its commands with hiredis (`_hiredis_packing`).
    """
    common = _policy(AsyncRetry(_backoff(), retries=5))
    client: Any
    if is_cluster(url) if cluster is None else cluster:
        client = _Cluster.from_url(url, **common, **options)
    else:
        pool = redis.asyncio.ConnectionPool.from_url(
            url, health_check_interval=30, **common, **options
        )
        pool.connection_class = _hiredis_packing(pool.connection_class)
        client = redis.asyncio.Redis.from_pool(pool)
    for command in ("XRANGE", "XREVRANGE"):
        client.set_response_callback(command, _entries)
    return client


RAW_ENTRIES = "raw_entries"  # an XRANGE option: the reply as Redis sent it


def _entries(response: Any, **options: Any) -> Any:
    """XRANGE's reply: redis-py's (id, {field: value}) pairs, or, asked `raw_entries`,
    the reply as is: `[id, [field, value, ...]]` per entry.

    redis-py builds a dict for every entry; a page of turns needs only the one value,
    and the dicts were ~40 % of the client's CPU for a read of 100 or 1,000 turns.
    """
    if options.pop(RAW_ENTRIES, False):
        return response
    return parse_stream_list(response, **options)  # type: ignore[no-untyped-call]


def _pack_with_hiredis(self: Any, *args: Any) -> list[bytes]:
    """redis-py's sync packer, for asyncio connections (whose own is pure Python)."""
    if isinstance(args[0], str):
        args = tuple(args[0].encode().split()) + args[1:]
    elif b" " in args[0]:
        args = tuple(args[0].split()) + args[1:]
    args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
    try:
        return [hiredis.pack_command(args)]
    except TypeError as exc:
        raise DataError(str(exc)) from exc


_packing: dict[type, type] = {}


def _hiredis_packing(connection_class: type) -> type:
    """`connection_class` packing commands with hiredis (C) instead of Python.

    redis-py's asyncio connections pack every argument in Python: for an append (one
    EVALSHA of 15-odd arguments) that was a fifth of the client's CPU in a profile
    (`make bench`, 32 clients). The sync client already packs with hiredis when it is
    installed (it is a dependency); this gives the asyncio one the same packer.
    """
    if connection_class not in _packing:
        name = f"Hiredis{connection_class.__name__}"
        _packing[connection_class] = type(
            name, (connection_class,), {"pack_command": _pack_with_hiredis}
        )
    return _packing[connection_class]


class _Cluster(redis.asyncio.cluster.RedisCluster):
    """redis-py's asyncio cluster client, its slot map loaded before its first command.

    redis-py 8.1 races when several commands start at once on a client that has not
    loaded its slot map yet (each resolves the command's policy before initialize()
    takes its lock): connections are closed under other commands, which then fail
    with ConnectionError or AttributeError ('NoneType' object has no attribute
    'writelines'). Seen in `recover` on a cluster; reproduced with redis-py alone: 16
    concurrent first HGETALLs on a fresh client failed in 22 of 30 tries, none once
    initialize() had run first. initialize() is a no-op once the map is loaded.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


class _ClusterPipeline(redis.asyncio.cluster.ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        if self.cluster_client._initialize:
            await self.cluster_client.initialize()
        return await super().execute(raise_on_error, allow_redirections)


class _SyncCluster(redis.cluster.RedisCluster):
    """redis-py's sync cluster client, whose close also closes its nodes' sockets.

    Built by from_url, each node's client sits on a pool it does not own, so
    redis-py's close leaves every socket open until garbage collection.
    """

    def close(self) -> None:
        super().close()
        self.disconnect_connection_pools()  # type: ignore[no-untyped-call]


def sync_client(url: str, **options: Any) -> Any:
    """A synchronous client of the hot store (workers' counters, CLI); same policy."""
    common = _policy(Retry(_backoff(), retries=5))
    if is_cluster(url):
        return _SyncCluster.from_url(url, **common, **options)
    return redis.Redis.from_url(url, **common, **options)


def queue_client(url: str, variable: str = "THREADKEEPER_QUEUE_REDIS_URL") -> redis.Redis:
    """RQ's client: a standalone Redis, for RQ's commands span many keys."""
    if is_cluster(url, variable):
        raise _queue_on_cluster(variable, url)
    return redis.Redis.from_url(url, **_policy(Retry(_backoff(), retries=5)))


def _describe(exc: Exception) -> StoreError:
    text = str(exc)
    if _cross_slot(exc, text):
        return StoreError(
            f"one Redis command or script of threadkeeper named keys of different cluster "
            f"slots ({text}), which a cluster refuses before running it. This is a bug in "
            "threadkeeper, not a cluster fault, and retrying will not help: report it with this "
            "message"
        )
    if isinstance(exc, RedisClusterException | ClusterDownError):
        return StoreUnavailable(
            f"the Redis Cluster cannot serve this now ({text}): a master is down or failing "
            "over; retry in a few seconds with the same Idempotency-Key",
            retry=True,
        )
    if isinstance(exc, MovedError):
        return StoreUnavailable(
            "THREADKEEPER_REDIS_URL names a Redis Cluster node, but this process took it for "
            "a standalone Redis (it was unreachable when the process started): restart "
            "the process now that the cluster answers"
        )
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


def _cross_slot(exc: Exception, text: str) -> bool:
    """Redis's CROSSSLOT, or redis-py's cluster client refusing such a command before sending."""
    if isinstance(exc, ResponseError):  # redis-py drops the CROSSSLOT code from the text
        return text.startswith("CROSSSLOT") or "hash to the same slot" in text
    return isinstance(exc, RedisClusterException) and "same key slot" in text


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
    except (ConnectionError, TimeoutError, ResponseError, RedisClusterException) as exc:
        raise _describe(exc) from exc


def translated(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with redis_errors():
            return await func(*args, **kwargs)

    return wrapper


# Which Redis each part uses, from Settings.


def redis_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise ConfigError(
            "THREADKEEPER_REDIS_URL is not set: point it at Redis (redis://127.0.0.1:6379/0), "
            "or run `threadkeeper up`, which starts its own"
        )
    return settings.redis_url


def queue_url(settings: Settings) -> str:
    """RQ's Redis: THREADKEEPER_QUEUE_REDIS_URL, else the hot store's when standalone."""
    if settings.queue_redis_url:
        return settings.queue_redis_url
    url = redis_url(settings)
    if is_cluster(url):
        raise _queue_on_cluster("THREADKEEPER_REDIS_URL", url)
    return url


def _queue_on_cluster(variable: str, url: str) -> ConfigError:
    return ConfigError(
        f"{variable}={url} names a Redis Cluster node, but RQ's queue needs a standalone "
        "Redis (its commands touch many keys at once): set THREADKEEPER_QUEUE_REDIS_URL "
        "to one (a small one is enough, e.g. redis://127.0.0.1:6380/0)"
    )


def queue_connection(settings: Settings) -> redis.Redis:
    return queue_client(queue_url(settings))
