"""/openapi.json covers every route of the app, with its request and response schemas."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from threadkeeper.api import create_app
from threadkeeper.settings import Settings

# Every operation of the app that reads a JSON body; the others must document none.
TAKES_A_BODY = {
    ("/v1/threads", "post"),
    ("/v1/threads/{thread_id}", "patch"),
    ("/v1/threads/{thread_id}/turns", "post"),
    ("/v1/threads/{thread_id}/turns/{seq}", "patch"),
    ("/v1/threads/{thread_id}/fork", "post"),
    ("/v1/conversations", "post"),
    ("/v1/conversations/{conversation_id}", "post"),
    ("/v1/conversations/{conversation_id}/items", "post"),
    ("/v1/threads/{thread_id}/checkpoints", "post"),
    ("/v1/threads/{thread_id}/checkpoints/writes", "post"),
    ("/v1/threads/{thread_id}/checkpoints/copy", "post"),
    ("/v1/threads/{thread_id}/checkpoints/prune", "post"),
    ("/v1/checkpoints/delete-runs", "post"),
}


def _app_operations(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    found = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.name == "console":
            continue  # the web console's HTML pages: not part of the API
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((route.path, method.lower()))
    return found


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = doc["components"]["schemas"][name]
    return resolved


def test_every_route_has_its_request_and_response_schemas(
    client: TestClient, make_settings: Any
) -> None:
    doc = client.get("/openapi.json").json()
    operations = _app_operations(make_settings())
    assert len(operations) >= 14
    for path, method in operations:
        assert path in doc["paths"], f"{path} is missing from /openapi.json"
        op = doc["paths"][path].get(method)
        assert op is not None, f"{method.upper()} {path} is missing from /openapi.json"
        answers = [a for s, a in op["responses"].items() if s.startswith("2")]
        assert answers, f"{method.upper()} {path} documents no success answer"
        for answer in [a for a in answers if a["description"] != "204"]:
            (media,) = answer["content"].values()
            assert _resolve(doc, media["schema"]), f"{method.upper()} {path}: empty schema"
        if (path, method) in TAKES_A_BODY:
            assert "requestBody" in op, f"{method.upper()} {path} documents no request body"
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert _resolve(doc, body)["additionalProperties"] is False
        else:
            assert "requestBody" not in op, f"{method.upper()} {path} takes no body"
    assert TAKES_A_BODY <= operations
    assert set(doc["paths"]) == {path for path, _ in operations}


def test_the_document_has_shared_components_and_bearer_auth(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {"Turn", "TurnIn", "ThreadInfo", "ThreadView", "Problem"} <= set(schemas)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    read = doc["paths"]["/v1/threads/{thread_id}"]["get"]
    assert {"bearer": []} in read["security"]
    turn = schemas["TurnIn"]["properties"]
    assert sorted(turn["role"]["enum"]) == ["assistant", "system", "tool", "user"]
    archive = doc["paths"]["/v1/threads/{thread_id}/archive"]["post"]
    assert "wait" in {p["name"] for p in archive["parameters"]}
    assert {"202", "200"} <= set(archive["responses"])
