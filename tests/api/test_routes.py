"""Requests no route takes answer problem+json; `GET /` says where everything is."""

from __future__ import annotations

from starlette.testclient import TestClient

PROBLEM = "application/problem+json"


def test_an_unknown_route_is_a_problem_saying_where_the_api_is(client: TestClient) -> None:
    answer = client.get("/v2/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["type"].endswith("/route-not-found") and body["status"] == 404
    assert "GET /v2/nothing-here" in body["detail"] and "/openapi.json" in body["detail"]


def test_a_wrong_method_is_a_problem_naming_the_allowed_ones(client: TestClient) -> None:
    answer = client.put("/v1/threads")
    assert answer.status_code == 405
    assert answer.headers["content-type"] == PROBLEM
    assert set(answer.headers["allow"].split(", ")) >= {"GET", "POST"}
    body = answer.json()
    assert body["type"].endswith("/method-not-allowed") and "PUT /v1/threads" in body["detail"]


def test_the_root_links_to_the_openapi_document_and_health(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    links = answer.json()["links"]
    assert links["openapi"] == "/openapi.json" and links["health"] == "/v1/health"
    assert client.get(links["openapi"]).status_code == 200
