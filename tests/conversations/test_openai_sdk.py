"""The real `openai` package, strict about every answer, against a real daemon."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

MIXED = 28  # items of mixed types in one request, past OpenAI's 20


@pytest.fixture
def sdk(live_url: str) -> Iterator[OpenAI]:
    client = OpenAI(base_url=f"{live_url}/v1", api_key="any", _strict_response_validation=True)
    yield client
    client.close()


def mixed_items(n: int) -> list[dict[str, object]]:
    """Messages (string and parts, every role), function calls and outputs, reasoning."""
    kinds: list[dict[str, object]] = [
        {"role": "user", "content": "plain string"},
        {"type": "message", "role": "developer", "content": [
            {"type": "input_text", "text": "dev"}]},
        {"type": "message", "role": "system", "content": "sys"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "answer", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "reasoning", "id": "rs_client", "summary": [
            {"type": "summary_text", "text": "thought"}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.invalid/a.png",
             "detail": "low"}]},
    ]  # fmt: skip
    out = []
    for i in range(n):
        item = dict(kinds[i % len(kinds)])
        if "id" in item:
            item["id"] = f"{item['id']}_{i}"
        if item.get("call_id"):
            item["call_id"] = f"call_{i // 2}"
        out.append(item)
    return out


def test_every_conversation_method(sdk: OpenAI) -> None:
    conv = sdk.conversations.create(metadata={"topic": "demo"})
    assert conv.object == "conversation" and conv.metadata == {"topic": "demo"}
    assert conv.id.startswith("conv_") and conv.created_at > 1_700_000_000
    assert sdk.conversations.retrieve(conv.id).id == conv.id
    updated = sdk.conversations.update(conv.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}
    assert sdk.conversations.retrieve(conv.id).metadata == {"topic": "changed"}
    deleted = sdk.conversations.delete(conv.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (conv.id, True, "conversation.deleted")
    with pytest.raises(openai.NotFoundError) as gone:
        sdk.conversations.retrieve(conv.id)
    assert "deleted" in gone.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.retrieve("conv_never")
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.items.list("conv_never")


def test_mixed_items_in_one_request_come_back_in_order(sdk: OpenAI) -> None:
    sent = mixed_items(MIXED)
    conv = sdk.conversations.create(items=sent[:2])
    include = ["reasoning.encrypted_content"]
    created = sdk.conversations.items.create(conv.id, items=sent[2:], include=include)
    assert len(created.data) == MIXED - 2 and created.has_more is False
    assert (created.first_id, created.last_id) == (created.data[0].id, created.data[-1].id)
    listed = list(sdk.conversations.items.list(conv.id, order="asc", limit=100))
    assert [x.type for x in listed] == [x.get("type", "message") for x in sent]
    assert len({x.id for x in listed}) == MIXED
    first, call, output, reasoning = listed[0], listed[4], listed[5], listed[6]
    assert first.type == "message" and first.role == "user" and first.status == "completed"
    assert first.content[0].type == "input_text" and first.content[0].text == "plain string"
    assert listed[1].role == "developer" and listed[1].id.startswith("msg_")
    assert call.type == "function_call" and call.name == "lookup" and call.id.startswith("fc_")
    assert output.type == "function_call_output" and output.output == "42"
    assert reasoning.type == "reasoning" and reasoning.id == "rs_client_6"
    assert listed[7].content[1].type == "input_image"


def test_auto_paging_in_both_orders_with_small_pages(sdk: OpenAI) -> None:
    conv = sdk.conversations.create()
    texts = [f"m{i}" for i in range(23)]
    sdk.conversations.items.create(conv.id, items=[{"role": "user", "content": t} for t in texts])
    asc = [x.content[0].text for x in sdk.conversations.items.list(conv.id, order="asc", limit=4)]
    desc = [x.content[0].text for x in sdk.conversations.items.list(conv.id, limit=5)]
    assert asc == texts and desc == texts[::-1]
    first_page = sdk.conversations.items.list(conv.id)
    assert len(first_page.data) == 20 and first_page.has_more is True


def test_item_retrieve_and_delete(sdk: OpenAI) -> None:
    conv = sdk.conversations.create(items=[{"role": "user", "content": f"q{i}"} for i in range(3)])
    items = list(sdk.conversations.items.list(conv.id, order="asc"))
    middle = sdk.conversations.items.retrieve(items[1].id, conversation_id=conv.id)
    assert middle.id == items[1].id and middle.content[0].text == "q1"
    after_delete = sdk.conversations.items.delete(items[1].id, conversation_id=conv.id)
    assert after_delete.id == conv.id and after_delete.object == "conversation"
    assert [x.id for x in sdk.conversations.items.list(conv.id, order="asc")] == [
        items[0].id, items[2].id]  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.items.retrieve(items[1].id, conversation_id=conv.id)


def test_errors_are_openai_errors_naming_the_limit(sdk: OpenAI, live_url: str) -> None:
    conv = sdk.conversations.create()
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.conversations.items.create(conv.id, items=[{"role": "robot", "content": "x"}])
    assert bad.value.param == "items[0].role" and "robot" in bad.value.message
    too_many = [{"role": "user", "content": "x"}] * 101
    with pytest.raises(openai.BadRequestError) as limit:
        sdk.conversations.items.create(conv.id, items=too_many)
    assert "THREADKEEPER_MAX_ITEMS_PER_REQUEST" in limit.value.message
    raw = httpx.post(f"{live_url}/v1/conversations/{conv.id}/items", json={"items": []})
    assert raw.status_code == 400
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_a_conversation_is_a_thread_and_a_thread_reads_as_a_conversation(
    sdk: OpenAI, live_url: str
) -> None:
    conv = sdk.conversations.create(items=[{"role": "developer", "content": "be brief"},
                                           {"role": "user", "content": "hi"}])  # fmt: skip
    native = httpx.get(f"{live_url}/v1/threads/{conv.id}").json()
    assert [(t["role"], t["content"]) for t in native["turns"]] == [("system", "be brief"),
                                                                    ("user", "hi")]  # fmt: skip
    assert native["turns"][0]["item"]["role"] == "developer"
    every_field = {"tool_name", "model", "files", "images", "metadata", "tokens"}
    assert every_field <= set(native["turns"][1])
    turns = [{"role": "user", "content": "native q"}, {"role": "assistant", "content": "native a"}]
    made = httpx.post(f"{live_url}/v1/threads", json={"id": "nat", "turns": turns})
    assert made.status_code == 201
    items = list(sdk.conversations.items.list("nat", order="asc"))
    shapes = [(x.role, x.content[0].type) for x in items]
    assert shapes == [("user", "input_text"), ("assistant", "output_text")]
    assert sdk.conversations.retrieve("nat").metadata == {}


def test_idempotency_key_makes_item_creation_exactly_once(sdk: OpenAI) -> None:
    conv = sdk.conversations.create()
    once = {"Idempotency-Key": "reply-1"}
    items = [{"role": "assistant", "content": "only once"}]
    first = sdk.conversations.items.create(conv.id, items=items, extra_headers=once)
    again = sdk.conversations.items.create(conv.id, items=items, extra_headers=once)
    assert first.data[0].id == again.data[0].id
    assert len(list(sdk.conversations.items.list(conv.id))) == 1


@pytest.mark.anyio
async def test_async_client_every_method(live_url: str) -> None:
    async with AsyncOpenAI(base_url=f"{live_url}/v1", api_key="any",
                           _strict_response_validation=True) as client:  # fmt: skip
        conv = await client.conversations.create(items=mixed_items(3), metadata={"k": "v"})
        assert (await client.conversations.retrieve(conv.id)).metadata == {"k": "v"}
        await client.conversations.update(conv.id, metadata={"k": "w"})
        added = await client.conversations.items.create(conv.id, items=mixed_items(25))
        assert len(added.data) == 25
        ids = [x.id async for x in client.conversations.items.list(conv.id, limit=3)]
        assert len(ids) == 28 and ids[-1].startswith("msg_")
        got = await client.conversations.items.retrieve(ids[0], conversation_id=conv.id)
        assert got.id == ids[0]
        await client.conversations.items.delete(ids[0], conversation_id=conv.id)
        asc = [x.id async for x in client.conversations.items.list(conv.id, order="asc", limit=7)]
        assert asc == ids[:0:-1]
        assert (await client.conversations.delete(conv.id)).deleted is True
        with pytest.raises(openai.NotFoundError):
            await client.conversations.items.list(conv.id)


def test_an_item_of_any_other_type_is_kept_verbatim(sdk: OpenAI, live_url: str) -> None:
    conv = sdk.conversations.create()
    future = {"type": "some_future_item", "payload": {"nested": [1, "two", None]}, "flag": True}
    r = httpx.post(f"{live_url}/v1/conversations/{conv.id}/items", json={"items": [future]})
    assert r.status_code == 200, r.text
    (created,) = r.json()["data"]
    assert created == {"id": "item_tk1", **future}
    got = httpx.get(f"{live_url}/v1/conversations/{conv.id}/items/item_tk1")
    assert got.json() == created
    mcp = {"type": "mcp_call", "id": "mcp_1", "arguments": "{}", "name": "n", "server_label": "s"}
    sdk.conversations.items.create(conv.id, items=[mcp])
    assert sdk.conversations.items.retrieve("mcp_1", conversation_id=conv.id).type == "mcp_call"
