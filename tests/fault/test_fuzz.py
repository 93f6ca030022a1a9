"""The API fuzzed from its own OpenAPI document (schemathesis) against a real uvicorn: no 5xx,
every answer as the document says (status, content type, body schema, headers), and
afterwards every stored thread still reads back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from live_server import LiveServer
from search_support import index_now
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.settings import Settings

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]  # fmt: skip


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole app on a free loopback port, over its own redis-server and file archive."""
    home = tmp_path_factory.mktemp("fuzz")
    server = ManagedRedis(home / "redis").start()
    app_settings = Settings(redis_url=server.url, archive_url=(home / "archive").as_uri(),
                            home=home / "home")  # fmt: skip
    index_now(app_settings)  # built (empty): /v1/search answers rather than 503 not-built
    api = LiveServer(app_settings).start()
    yield api.url
    api.stop()
    server.stop()


@pytest.fixture(scope="module")
def api_schema(live_api: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json")


def test_no_server_errors_and_answers_conform(
    api_schema: schemathesis.BaseSchema, live_api: str
) -> None:
    """Every operation, MAX_EXAMPLES generated requests each (schemathesis's pytest plugin does
    not load on pytest 9, so its Python API drives hypothesis here)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13  # every route, archive and rehydrate included

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=live_api, checks=CHECKS)

        run()


def test_everything_stored_still_reads_back(live_api: str) -> None:
    with httpx.Client(base_url=live_api, timeout=30) as client:
        ids: list[str] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/threads", params=params)
            assert page.status_code == 200, page.text
            ids += [t["id"] for t in page.json()["threads"]]
            cursor = page.json()["next"]
            if not cursor:
                break
        assert ids, "the fuzzing stored no thread: nothing was checked"
        for thread_id in ids:
            r = client.get(f"/v1/threads/{thread_id}", params={"limit": 1000})
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["turns"]) == min(body["thread"]["turn_count"], 1000)
            assert [t["seq"] for t in body["turns"]] == list(range(1, len(body["turns"]) + 1))


def test_huge_integer_in_metadata_is_a_400(live_api: str) -> None:
    turn = {"role": "user", "content": "x", "metadata": {"n": 868859137454863286272}}
    r = httpx.post(f"{live_api}/v1/threads", json={"turns": [turn]}, timeout=30)
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    ("thread_id", "query"),
    [("bounds-0", "before=0"), ("bounds-1", f"after={2**70}"), ("bounds-2", f"before={2**70}")],
)
def test_out_of_range_seq_bounds_are_not_a_5xx(live_api: str, thread_id: str, query: str) -> None:
    turns = {"id": thread_id, "turns": [{"role": "user", "content": "x"}]}
    created = httpx.post(f"{live_api}/v1/threads", json=turns, timeout=30)
    assert created.status_code == 201, created.text
    r = httpx.get(f"{live_api}/v1/threads/{thread_id}?{query}", timeout=30)
    assert r.status_code < 500, r.text
