"""openai-agents' OpenAIConversationsSession, unchanged, keeping its history in threadkeeper."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from agents.memory.openai_conversations_session import OpenAIConversationsSession
from openai import AsyncOpenAI

pytestmark = pytest.mark.anyio


async def test_session_add_get_pop_clear(live_url: str) -> None:
    async with AsyncOpenAI(base_url=f"{live_url}/v1", api_key="any",
                           _strict_response_validation=True) as client:  # fmt: skip
        session = OpenAIConversationsSession(openai_client=client)
        items: list[Any] = [{"role": "user", "content": f"turn {i}"} for i in range(30)]
        items[7] = {"type": "function_call", "call_id": "c7", "name": "f", "arguments": "{}"}
        items[8] = {"type": "function_call_output", "call_id": "c7", "output": "done"}
        await session.add_items(items)  # 30 > 20: two requests

        every = await session.get_items()
        assert len(every) == 30
        assert every[0]["content"][0]["text"] == "turn 0"
        assert every[7]["type"] == "function_call" and every[8]["output"] == "done"
        last_three = await session.get_items(limit=3)
        assert [x["content"][0]["text"] for x in last_three] == ["turn 27", "turn 28", "turn 29"]

        popped = await session.pop_item()
        assert popped is not None and popped["content"][0]["text"] == "turn 29"
        assert len(await session.get_items()) == 29

        conversation = session.session_id
        native = httpx.get(f"{live_url}/v1/threads/{conversation}?limit=100").json()
        assert len(native["turns"]) == 29
        await session.clear_session()
        gone = httpx.get(f"{live_url}/v1/threads/{conversation}")
        assert gone.status_code == 404 and gone.json()["reason"] == "deleted"
