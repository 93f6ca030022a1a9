"""A write resent after a lost reply (redis-py's Retry does that) is never applied twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio

from threadkeeper import idempotency, keys
from threadkeeper.codec import encode_turn, load_turn
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.models import Thread
from threadkeeper.runtime import Runtime, build_runtime
from threadkeeper.settings import Settings
from threadkeeper.store.connection import async_client
from threadkeeper.store.paging import ThreadQuery, TurnWindow
from threadkeeper.store.records import Appended
from threadkeeper.store.thread_store import RECENT_MAX, RECENT_TTL_MS, ThreadStore
from threadkeeper.wire.shapes import NewThread, NewTurns, TurnIn

pytestmark = pytest.mark.anyio


def blob(content: str) -> bytes:
    turn = {"role": "user", "content": content, "files": [], "images": [], "metadata": {}}
    return encode_turn(turn, 1)


def new_thread(thread_id: str = "t1") -> Thread:
    return Thread(
        id=thread_id, tenant="acme", created_at=1, updated_at=1, title=None, tool=None,
        metadata={}, parent_id=None, fork_seq=None, turn_count=0, byte_count=0, version=1,
        archived_version=0, archived_at=None, dirty_since=1,
    )  # fmt: skip


def turn(content: str) -> TurnIn:
    return TurnIn(role="user", content=content)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ThreadStore]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield ThreadStore(client, hot_ttl=3600)
    await client.aclose()


# -- the scripts, given the same request twice -------------------------------------


async def test_a_keyless_append_resent_with_its_request_id_is_stored_once(
    store: ThreadStore,
) -> None:
    assert await store.create(new_thread(), [])
    first = await store.append("acme", "t1", [blob("a"), blob("b")], max_turns=9, request_id="r1")
    again = await store.append("acme", "t1", [blob("a"), blob("b")], max_turns=9, request_id="r1")
    assert (first.status, first.seqs, first.version) == ("ok", [1, 2], 2)
    assert again == first  # answered as the first attempt was: the caller sees one success
    thread = await store.get("acme", "t1")
    assert thread is not None and (thread.turn_count, thread.version) == (2, 2)
    other = await store.append("acme", "t1", [blob("c")], max_turns=9, request_id="r2")
    assert (other.seqs, other.version) == ([3], 3)


async def test_keyless_request_ids_are_few_and_short_lived(store: ThreadStore) -> None:
    assert await store.create(new_thread(), [])
    for i in range(RECENT_MAX + 8):
        assert (await store.append("acme", "t1", [blob(f"{i}")], max_turns=99)).status == "ok"
    recent = keys.thread_keys("acme", "t1").recent
    assert await store.redis.llen(recent) == RECENT_MAX
    assert 0 < await store.redis.pttl(recent) <= RECENT_TTL_MS
    await store.delete("acme", "t1", "deleted")
    assert not await store.redis.exists(recent)


async def test_a_create_resent_with_its_key_writes_the_indexes_it_missed(
    store: ThreadStore,
) -> None:
    k = keys.thread_keys("acme", "t1")
    assert await store.create(new_thread(), [blob("a")], create_key="~c1")
    # The first attempt's reply was lost before its index writes went out.
    await store.redis.delete(k.activity, k.dirty, k.listing)
    assert not await store.create(new_thread(), [blob("a")], create_key="~c1")  # caller compares
    assert await store.redis.zscore(k.listing, "t1") == 1
    assert await store.redis.zscore(k.dirty, k.member) == 1
    assert not await store.create(new_thread(), [blob("x")], create_key="~other")
    assert await store.redis.xlen(k.turns) == 1


# -- a real lost reply: a proxy drops the connection once Redis ran the write --------


class LostReply:
    """A loopback proxy to Redis that, once, forwards a request holding `marker` and then
    drops the connection with the reply unsent: the write ran, the client never hears."""

    def __init__(self, target: str, marker: bytes) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.marker = marker
        self.dropped = False
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def close(self) -> None:
        """After the client closed its connections: wait for their handlers to finish."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*self.handlers), 10)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        server_r, server_w = await asyncio.open_connection(*self.target)
        lost = asyncio.Event()

        async def up() -> None:
            while data := await client_r.read(65536):
                if self.marker in data and not self.dropped:
                    self.dropped = True
                    lost.set()  # before the write: its reply must not get through
                server_w.write(data)
                await server_w.drain()
                if lost.is_set():
                    await asyncio.sleep(0.2)  # Redis runs it
                    return

        async def down() -> None:
            while data := await server_r.read(65536):
                if not lost.is_set():
                    client_w.write(data)
                    await client_w.drain()

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (client_w, server_w):
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)


Proxied = Callable[[bytes], Awaitable[tuple[Runtime, LostReply]]]


@pytest.fixture
async def through_proxy(
    make_settings: Callable[..., Settings], redis_url: str
) -> AsyncIterator[Proxied]:
    """A runtime whose Redis client (the API's, retrying) talks through a LostReply proxy."""
    opened: list[tuple[Runtime, LostReply]] = []

    async def make(marker: bytes) -> tuple[Runtime, LostReply]:
        proxy = LostReply(redis_url, marker)
        url = await proxy.start()
        # cluster=False: asking the proxy (served by this very loop) would block it.
        runtime = build_runtime(make_settings(), redis=async_client(url, cluster=False))
        opened.append((runtime, proxy))
        # Scripts loaded beforehand: the marked request is the one that runs, not a NOSCRIPT.
        await runtime.service.create("default", NewThread(id="warm", turns=[turn("w")]))
        await runtime.service.append("default", "warm", NewTurns(turns=[turn("w")]))
        return runtime, proxy

    yield make
    for runtime, proxy in opened:
        await runtime.close()
        await proxy.close()


async def test_an_append_whose_reply_was_lost_is_stored_once(through_proxy: Proxied) -> None:
    rt, proxy = await through_proxy(b"lost-reply-append")
    await rt.service.create("default", NewThread(id="t1", turns=[turn("first")]))
    result = await rt.service.append("default", "t1", NewTurns(turns=[turn("lost-reply-append")]))
    assert proxy.dropped  # redis-py resent it on a new connection
    assert (result.seqs, result.version, result.replayed) == ([2], 2, False)
    view = await rt.service.read("default", "t1", TurnWindow())
    assert [t["content"] for t in view.turns] == ["first", "lost-reply-append"]


async def test_a_create_whose_reply_was_lost_answers_created(through_proxy: Proxied) -> None:
    rt, proxy = await through_proxy(b"lost-reply-create")
    new = NewThread(id="t1", turns=[turn("lost-reply-create")])
    view, created = await rt.service.create("default", new)
    thread = view.thread
    assert proxy.dropped and created and thread.id == "t1" and thread.turn_count == 1
    raw = await rt.redis.xrange(keys.thread_keys("default", "t1").turns)
    assert [load_turn(1, fields[b"t"]).content for _, fields in raw] == ["lost-reply-create"]
    listed, _ = await rt.store.listing.threads("default", ThreadQuery(limit=10))
    assert "t1" in [x.thread.id for x in listed]
    assert await rt.redis.zscore(keys.thread_keys("default", "t1").dirty, "default:t1") is not None


# -- the records of keyed appends (idempotency.py) ---------------------------------


async def _keyed(store: ThreadStore, key: str, content: str, fingerprint: str = "") -> Appended:
    fingerprint = fingerprint or f"fp-{key}"
    return await store.append("acme", "t1", [blob(content)], max_turns=999,
                              idempotency_key=key, fingerprint=fingerprint)  # fmt: skip


async def _record_bytes(store: ThreadStore, k: keys.ThreadKeys) -> int:
    return sum(map(len, await store.redis.hvals(k.idempotency)))


async def test_every_key_is_remembered_for_ever_in_24_bytes(store: ThreadStore) -> None:
    assert await store.create(new_thread(), [])
    for i in range(300):
        assert (await _keyed(store, f"k{i}", f"turn {i}")).status == "ok"
    for i in (0, 150, 299):  # the first, a middle and the last key: answered as the first time
        again = await _keyed(store, f"k{i}", f"turn {i}")
        assert (again.status, again.seqs, again.version) == ("duplicate", [i + 1], i + 2)
    k = keys.thread_keys("acme", "t1")
    assert await _record_bytes(store, k) == 300 * idempotency.RECORD_BYTES
    # What Redis allocates for them, buckets included: earlier versions took ~136 B a key.
    assert await store.redis.memory_usage(k.idempotency, samples=0) <= 300 * 64
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.turn_count == 300


async def test_a_key_reused_for_another_body_is_a_mismatch_and_stores_nothing(
    store: ThreadStore,
) -> None:
    assert await store.create(new_thread(), [])
    assert (await _keyed(store, "k", "a", fingerprint="body-a")).status == "ok"
    other = await _keyed(store, "k", "b", fingerprint="body-b")
    assert (other.status, other.seqs, other.version) == ("mismatch", [1], 2)
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.turn_count == 1


async def test_a_digest_found_inside_another_record_is_no_match(store: ThreadStore) -> None:
    """A key's digest may occur across a record's fields: only a record's start counts."""
    assert await store.create(new_thread(), [])
    k = keys.thread_keys("acme", "t1")
    digest = idempotency.key_digest("k-new")
    bucket = digest[:1]  # the bucket the key's record goes to holds it, at offset 4
    await store.redis.hset(k.idempotency, bucket, bytes(4) + digest + bytes(12))
    assert (await _keyed(store, "k-new", "fresh")).status == "ok"
    assert (await _keyed(store, "k-new", "fresh")).status == "duplicate"
    assert len(await store.redis.hget(k.idempotency, bucket)) == 2 * idempotency.RECORD_BYTES


async def test_records_of_the_older_hash_form_still_answer(store: ThreadStore) -> None:
    """Earlier versions kept key -> "first:last:version:fingerprint" in one hash, or two
    generations of them with THREADKEEPER_IDEMPOTENCY_WINDOW."""
    assert await store.create(new_thread(), [])
    assert (await _keyed(store, "k-then", "a")).status == "ok"
    k = keys.thread_keys("acme", "t1")
    await store.redis.delete(k.idempotency)
    await store.redis.hset(k.legacy_idempotency, "k-then", "1:1:2:fp-k-then")
    await store.redis.hset(k.legacy_idempotency_old, "k-older", "1:1:2:fp-k-older")
    for key in ("k-then", "k-older"):
        again = await _keyed(store, key, "a")
        assert (again.status, again.seqs, again.version) == ("duplicate", [1], 2)
        assert (await _keyed(store, key, "b", fingerprint="other")).status == "mismatch"
    thread = await store.get("acme", "t1")
    assert thread is not None and thread.turn_count == 1
    state = await store.all_turns("acme", "t1")  # what a snapshot takes: converted
    assert state is not None
    found = {r.digest: (r.first, r.last, r.version) for r in idempotency.unpack(state[2])}
    assert found == {idempotency.key_digest(key): (1, 1, 2) for key in ("k-then", "k-older")}
    await store.delete("acme", "t1", "deleted")
    assert not await store.redis.exists(k.legacy_idempotency, k.legacy_idempotency_old)


async def test_a_retry_after_redis_restarts_from_its_aof_is_answered_once(
    tmp_path: Path,
) -> None:
    server = ManagedRedis(tmp_path / "redis").start()
    try:
        client = redis.asyncio.Redis.from_url(server.url)
        store = ThreadStore(client, hot_ttl=3600)
        assert await store.create(new_thread(), [])
        assert (await _keyed(store, "k1", "a")).status == "ok"
        assert (await _keyed(store, "k2", "b")).status == "ok"
        await client.aclose()
        server.kill()  # kill -9: only what the AOF holds comes back
        server.start()
        client = redis.asyncio.Redis.from_url(server.url)
        store = ThreadStore(client, hot_ttl=3600)
        again = await _keyed(store, "k1", "a")
        assert (again.status, again.seqs, again.version) == ("duplicate", [1], 2)
        assert (await _keyed(store, "k2", "other", fingerprint="x")).status == "mismatch"
        assert (await _keyed(store, "k3", "c")).seqs == [3]
        await client.aclose()
    finally:
        server.stop()
