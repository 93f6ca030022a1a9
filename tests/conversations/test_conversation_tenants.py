"""The SDK's api_key is the bearer token: it picks the tenant exactly as on /v1/threads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from threadkeeper.auth import add_token


def test_the_api_key_picks_the_tenant(make_live: Callable[..., str], tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    _, alice = add_token(path, "alice")
    _, bob = add_token(path, "bob")
    url = make_live(tokens_file=path)
    as_alice = OpenAI(base_url=f"{url}/v1", api_key=alice, _strict_response_validation=True)
    as_bob = OpenAI(base_url=f"{url}/v1", api_key=bob, _strict_response_validation=True)
    stranger = OpenAI(base_url=f"{url}/v1", api_key="tk_unknown", max_retries=0)
    with as_alice, as_bob, stranger:
        conv = as_alice.conversations.create(items=[{"role": "user", "content": "mine"}])
        native = httpx.get(f"{url}/v1/threads/{conv.id}",
                           headers={"Authorization": f"Bearer {alice}"})  # fmt: skip
        assert native.json()["thread"]["tenant"] == "alice"
        with pytest.raises(openai.NotFoundError):  # another tenant's: as if it did not exist
            as_bob.conversations.retrieve(conv.id)
        with pytest.raises(openai.NotFoundError):
            as_bob.conversations.items.create(conv.id, items=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.AuthenticationError):
            stranger.conversations.retrieve(conv.id)
        assert len(list(as_alice.conversations.items.list(conv.id))) == 1


def test_create_with_an_idempotency_key_is_exactly_once(live_url: str) -> None:
    with OpenAI(base_url=f"{live_url}/v1", api_key="any") as client:
        once = {"Idempotency-Key": "conv-1"}
        items = [{"role": "user", "content": "hello"}]
        first = client.conversations.create(items=items, extra_headers=once)
        again = client.conversations.create(items=items, extra_headers=once)
        assert first.id == again.id and first.created_at == again.created_at
        assert len(list(client.conversations.items.list(first.id))) == 1
        with pytest.raises(openai.UnprocessableEntityError):  # the key, another body
            client.conversations.create(items=[{"role": "user", "content": "other"}],
                                        extra_headers=once)  # fmt: skip
