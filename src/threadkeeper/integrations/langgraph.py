"""A LangGraph checkpointer that keeps graphs' state in threadkeeper:

    from threadkeeper.integrations.langgraph import ThreadkeeperSaver
    graph = builder.compile(checkpointer=ThreadkeeperSaver())  # THREADKEEPER_URL, _TOKEN

Each LangGraph thread is a threadkeeper thread (tool `langgraph`, titled with its
thread_id): listed, exported, archived when cold and rehydrated on the next read,
deleted with a tombstone, per tenant. Values cross the wire in the serializer's typed
form and are decoded here only, never by the server. Install with
`pip install 'threadkeeper[langgraph]'`. Imports only threadkeeper.client (and httpx).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from threadkeeper.client import AsyncClient, Client, ThreadNotFound
from threadkeeper.integrations import _langgraph_wire as wire
from threadkeeper.integrations._langgraph_wire import thread_key

__all__ = ["ThreadkeeperSaver", "thread_key"]


class ThreadkeeperSaver(BaseCheckpointSaver[int]):
    """LangGraph's BaseCheckpointSaver over threadkeeper's HTTP API, async and sync."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        serde: SerializerProtocol | None = None,
        timeout: float = 30.0,
        messages_channel: str = wire.MESSAGES,
    ) -> None:
        super().__init__(serde=serde)
        self.url, self.token, self.timeout = url, token, timeout
        self.messages_channel = messages_channel
        self._async: AsyncClient | None = None
        self._sync: Client | None = None

    @property
    def aclient(self) -> AsyncClient:
        if self._async is None:
            self._async = AsyncClient(self.url, self.token, timeout=self.timeout)
        return self._async

    @property
    def client(self) -> Client:
        if self._sync is None:
            self._sync = Client(self.url, self.token, timeout=self.timeout)
        return self._sync

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def __aenter__(self) -> ThreadkeeperSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> ThreadkeeperSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the wire form ------------------------------------------------------------

    def _typed(self, value: Any) -> list[str]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, base64.b64encode(data).decode()]

    def _value(self, typed: list[str]) -> Any:
        return self.serde.loads_typed((typed[0], base64.b64decode(typed[1])))

    def _put_body(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> dict[str, Any]:  # fmt: skip
        conf = config["configurable"]
        rest = dict(checkpoint)
        values: dict[str, Any] = rest.pop("channel_values")  # type: ignore[assignment]
        body: dict[str, Any] = {
            "thread": conf["thread_id"], "ns": conf.get("checkpoint_ns", ""),
            "id": checkpoint["id"], "parent_id": conf.get("checkpoint_id"),
            "checkpoint": self._typed(rest), "versions": checkpoint["channel_versions"],
            "metadata": wire.jsonable(get_serializable_checkpoint_metadata(config, metadata)),
            "values": [
                {"channel": ch, "version": version,
                 "value": self._typed(values[ch]) if ch in values else ["empty", ""]}
                for ch, version in new_versions.items()
            ],
        }  # fmt: skip
        preview = wire.preview(
            values.get(self.messages_channel), self.messages_channel, new_versions
        )
        if preview is not None:
            body["preview"] = preview
        return body

    def _writes_body(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str,
    ) -> dict[str, Any]:  # fmt: skip
        conf = config["configurable"]
        return {
            "thread": conf["thread_id"], "ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf["checkpoint_id"], "task_id": task_id, "task_path": task_path,
            "writes": [
                {"channel": ch, "idx": WRITES_IDX_MAP.get(ch, i), "value": self._typed(v)}
                for i, (ch, v) in enumerate(writes)
            ],
        }  # fmt: skip

    def _tuple(self, thread_id: str, found: dict[str, Any]) -> CheckpointTuple:
        ns = found["ns"]
        checkpoint = self._value(found["checkpoint"])
        checkpoint["channel_values"] = {ch: self._value(v) for ch, v in found["values"].items()}
        parent = found["parent_id"]
        return CheckpointTuple(
            config=wire.config_of(thread_id, ns, found["id"]),
            checkpoint=checkpoint,
            metadata=found["metadata"],
            parent_config=wire.config_of(thread_id, ns, parent) if parent else None,
            pending_writes=[
                (w["task_id"], w["channel"], self._value(w["value"])) for w in found["writes"]
            ],
        )

    # -- async ------------------------------------------------------------------

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:  # fmt: skip
        body = self._put_body(config, checkpoint, metadata, new_versions)
        await self.aclient.request("POST", wire.path(body["thread"], "/checkpoints"), json=body)
        return wire.config_of(body["thread"], body["ns"], checkpoint["id"])

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:  # fmt: skip
        body = self._writes_body(config, writes, task_id, task_path)
        await self.aclient.request(
            "POST", wire.path(body["thread"], "/checkpoints/writes"), json=body
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, params = wire.one_checkpoint(config)
        try:
            found = await self.aclient.request(
                "GET", wire.path(thread_id, "/checkpoint"), params=params
            )
        except ThreadNotFound:
            return None
        return self._tuple(thread_id, found)

    async def alist(
        self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None, limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:  # fmt: skip
        if config is None:
            async for thread_id in self._athreads():
                async for item in self.alist(
                    wire.config_of(thread_id, None, None), filter=filter, before=before, limit=limit
                ):
                    yield item
                    limit = None if limit is None else limit - 1
                if limit is not None and limit <= 0:
                    return
            return
        thread_id, params = wire.listing_query(config, filter, before)
        if get_checkpoint_id(config):
            found = await self.aget_tuple(config)
            if found is not None and wire.matches(found.metadata, filter):
                yield found
            return
        pages = wire.Pages(
            wire.path(thread_id, "/checkpoints"), params, "checkpoints", "before", limit
        )
        while (query := pages.query()) is not None:
            for row in pages.take(await self.aclient.request("GET", pages.path, params=query)):
                yield self._tuple(thread_id, row)

    async def _athreads(self) -> AsyncIterator[str]:
        pages = wire.thread_pages()
        while (query := pages.query()) is not None:
            for thread in pages.take(await self.aclient.request("GET", pages.path, params=query)):
                yield thread["title"] or thread["id"]

    async def adelete_thread(self, thread_id: str) -> None:
        try:
            await self.aclient.request("DELETE", wire.path(thread_id, ""))
        except ThreadNotFound:
            pass

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            body = {"run_ids": list(run_ids)}
            await self.aclient.request("POST", "/v1/checkpoints/delete-runs", json=body)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        body = {"target_id": thread_key(target_thread_id), "target_thread": target_thread_id}
        try:
            await self.aclient.request(
                "POST", wire.path(source_thread_id, "/checkpoints/copy"), json=body
            )
        except ThreadNotFound:
            pass  # nothing to copy

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for thread_id in thread_ids:
            try:
                await self.aclient.request(
                    "POST", wire.path(thread_id, "/checkpoints/prune"), json={"strategy": strategy}
                )
            except ThreadNotFound:
                pass

    # -- sync twins -----------------------------------------------------------------

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:  # fmt: skip
        body = self._put_body(config, checkpoint, metadata, new_versions)
        self.client.request("POST", wire.path(body["thread"], "/checkpoints"), json=body)
        return wire.config_of(body["thread"], body["ns"], checkpoint["id"])

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:  # fmt: skip
        body = self._writes_body(config, writes, task_id, task_path)
        self.client.request("POST", wire.path(body["thread"], "/checkpoints/writes"), json=body)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, params = wire.one_checkpoint(config)
        try:
            found = self.client.request("GET", wire.path(thread_id, "/checkpoint"), params=params)
        except ThreadNotFound:
            return None
        return self._tuple(thread_id, found)

    def list(
        self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None, limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:  # fmt: skip
        if config is None:
            for thread_id in self._threads():
                for item in self.list(
                    wire.config_of(thread_id, None, None), filter=filter, before=before, limit=limit
                ):
                    yield item
                    limit = None if limit is None else limit - 1
                if limit is not None and limit <= 0:
                    return
            return
        thread_id, params = wire.listing_query(config, filter, before)
        if get_checkpoint_id(config):
            found = self.get_tuple(config)
            if found is not None and wire.matches(found.metadata, filter):
                yield found
            return
        pages = wire.Pages(
            wire.path(thread_id, "/checkpoints"), params, "checkpoints", "before", limit
        )
        while (query := pages.query()) is not None:
            for row in pages.take(self.client.request("GET", pages.path, params=query)):
                yield self._tuple(thread_id, row)

    def _threads(self) -> Iterator[str]:
        pages = wire.thread_pages()
        while (query := pages.query()) is not None:
            for thread in pages.take(self.client.request("GET", pages.path, params=query)):
                yield thread["title"] or thread["id"]

    def delete_thread(self, thread_id: str) -> None:
        try:
            self.client.request("DELETE", wire.path(thread_id, ""))
        except ThreadNotFound:
            pass

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.client.request(
                "POST", "/v1/checkpoints/delete-runs", json={"run_ids": list(run_ids)}
            )

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        body = {"target_id": thread_key(target_thread_id), "target_thread": target_thread_id}
        try:
            self.client.request("POST", wire.path(source_thread_id, "/checkpoints/copy"), json=body)
        except ThreadNotFound:
            pass

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for thread_id in thread_ids:
            try:
                self.client.request(
                    "POST", wire.path(thread_id, "/checkpoints/prune"), json={"strategy": strategy}
                )
            except ThreadNotFound:
                pass
