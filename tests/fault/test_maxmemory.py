"""Redis at maxmemory: appends are refused loudly (507), nothing acknowledged is dropped,
reads keep working, and health says how full Redis is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from threadkeeper.api import create_app
from threadkeeper.redis_server import ManagedRedis
from threadkeeper.settings import Settings

pytestmark = pytest.mark.fault

ATTEMPTS = 3000
PAD = "x" * 4000


def test_full_redis_refuses_appends_and_keeps_what_it_acknowledged(
    make_redis: Callable[..., ManagedRedis], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_redis("--maxmemory", "3mb")
    settings = Settings(redis_url=server.url, archive_url=(tmp_path / "a").as_uri(),
                        home=tmp_path / "home")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/threads", json={"id": "big", "turns": []}).status_code == 201
        acked: dict[int, str] = {}
        refused: list[tuple[str, dict[str, object]]] = []
        for n in range(ATTEMPTS):
            text = f"{n}:{PAD}"
            turns = {"turns": [{"role": "user", "content": text}]}
            r = client.post(
                "/v1/threads/big/turns", json=turns, headers={"Idempotency-Key": f"k{n}"}
            )
            assert r.status_code in (201, 507), r.text
            if r.status_code == 201:
                acked[r.json()["seqs"][0]] = text
            else:
                refused.append((text, r.json()))
                if len(refused) >= 20:
                    break
        assert refused, "Redis never filled up"
        text, problem = refused[0]
        assert problem["type"].endswith("/store-full") and problem["status"] == 507
        assert "maxmemory" in problem["detail"] and "archive" in problem["detail"]

        # Well over the limit, not at its edge: Redis then refuses anything queued in MULTI.
        admin = redis.Redis.from_url(server.url)
        admin.config_set("maxmemory", "1mb")
        r = client.get("/v1/threads/big", params={"limit": 1000})
        admin.config_set("maxmemory", "3mb")
        admin.close()
        assert r.status_code == 200, r.text  # reads still work
        body = r.json()
        stored = {t["seq"]: t["content"] for t in body["turns"]}
        assert len(body["turns"]) == body["thread"]["turn_count"]
        assert all(stored.get(seq) == text for seq, text in acked.items())  # none dropped
        extra = [t for t in stored.values() if t not in set(acked.values())]
        health = client.get("/v1/health").json()
        assert health["durability"]["maxmemory"] == 3 * 1024 * 1024
        assert health["durability"]["memory_used_ratio"] > 0.9
        assert any("appends fail with 507" in w for w in health["warnings"])
        with capsys.disabled():
            print(f"\n[maxmemory 3mb] acknowledged {len(acked)}, refused {len(refused)}, "
                  f"stored though refused {len(extra)}")  # fmt: skip
