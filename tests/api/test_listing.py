"""GET /v1/threads filters: id or title prefix, tool, updated after/before, and the bound
on how many threads one filtered request examines."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from threadkeeper.settings import Limits

MakeClient = Callable[..., TestClient]


def test_filters_by_prefix_tool_and_time(client: TestClient) -> None:
    for thread_id, title, tool in (("a1", "Alpha plan", "chat"), ("b2", "beta notes", "debug"),
                                   ("alpine", None, "chat")):  # fmt: skip
        body = {"id": thread_id, "title": title, "tool": tool, "turns": []}
        assert client.post("/v1/threads", json=body).status_code == 201

    def ids(query: str) -> list[str]:
        return [t["id"] for t in client.get("/v1/threads?" + query).json()["threads"]]

    assert ids("prefix=al") == ["alpine", "a1"]  # the id, or the title ignoring case
    assert ids("prefix=BETA") == ["b2"]
    assert ids("prefix=al&tool=chat&limit=1") == ["alpine"]
    page = client.get("/v1/threads?prefix=al&limit=1").json()
    assert [t["id"] for t in client.get(f"/v1/threads?cursor={page['next']}&limit=1").json()[
        "threads"]] == ["a1"]  # fmt: skip
    listed = client.get("/v1/threads").json()["threads"]
    for pivot in listed:  # strictly before, and strictly after, each thread's last activity
        at = pivot["updated_at"]
        assert ids(f"updated_before={at}") == [t["id"] for t in listed if t["updated_at"] < at]
        assert ids(f"updated_after={at}") == [t["id"] for t in listed if t["updated_at"] > at]
    assert ids("updated_after=2000-01-01T00:00:00Z&updated_before=2000-01-02T00:00:00Z") == []
    r = client.get("/v1/threads?updated_before=soon")
    assert r.status_code == 400 and "updated_before" in r.json()["detail"]


def test_a_filtered_search_stops_at_its_budget_and_resumes(make_client: MakeClient) -> None:
    client = make_client(limits=Limits(max_list_scan=3))
    for n in range(10):  # t0 is the oldest: the only match, found last
        title = "needle" if n == 0 else f"hay {n}"
        assert client.post("/v1/threads", json={"id": f"t{n}", "title": title}).status_code == 201
    query, pages, found = "/v1/threads?prefix=needle&limit=2", 0, []
    while True:
        body = client.get(query).json()
        pages += 1
        found += [t["id"] for t in body["threads"]]
        if body["next"] is None:
            break
        query = f"/v1/threads?cursor={body['next']}&limit=2"
    assert found == ["t0"] and pages >= 3  # at most 3 threads examined per request
