"""Conversation item ids: the server's own (`msg_tk7`) name a seq, in ASCII digits only,
and a client's id can never take one of them."""

from __future__ import annotations

import base64
from typing import Any

from starlette.testclient import TestClient


def _conversation(client: TestClient, *items: dict[str, Any]) -> str:
    r = client.post("/v1/conversations", json={"items": list(items)})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _ids(client: TestClient, conv: str) -> list[str]:
    r = client.get(f"/v1/conversations/{conv}/items?order=asc")
    return [item["id"] for item in r.json()["data"]]


def test_a_client_id_in_the_servers_form_is_refused(client: TestClient) -> None:
    conv = _conversation(client, {"role": "user", "content": "one"})
    for taken in ("msg_tk1", "fc_tk2", "item_tk9"):
        r = client.post(
            f"/v1/conversations/{conv}/items",
            json={"items": [{"id": taken, "role": "user", "content": "mine"}]},
        )
        assert r.status_code == 400, (taken, r.text)
        error = r.json()["error"]
        assert error["param"] == "items[0].id" and "choose another id" in error["message"]
    assert _ids(client, conv) == ["msg_tk1"]
    # Ids near the form but never given by the server stay the client's to choose.
    for mine in ("msg_tk01", "msg_tk0", "msg_tk", "Msg_tk1", "msg_tk1x"):
        r = client.post(
            f"/v1/conversations/{conv}/items",
            json={"items": [{"id": mine, "role": "user", "content": mine}]},
        )
        assert r.status_code == 200, (mine, r.text)
        assert client.get(f"/v1/conversations/{conv}/items/{mine}").json()["id"] == mine
    item = client.get(f"/v1/conversations/{conv}/items/msg_tk1").json()
    assert item["content"][0]["text"] == "one"


def test_an_item_seq_in_anything_but_ascii_digits_names_no_item(client: TestClient) -> None:
    conv = _conversation(client, {"role": "user", "content": "one"})
    for item_id in ("msg_tk%D9%A1", "msg_tk%EF%BC%91", "msg_tk%C2%B9", "msg_tk" + "1" * 5000):
        assert client.get(f"/v1/conversations/{conv}/items/{item_id}").status_code == 404
        assert client.delete(f"/v1/conversations/{conv}/items/{item_id}").status_code == 404
    assert _ids(client, conv) == ["msg_tk1"]


def test_a_cursor_holding_a_huge_number_is_400(client: TestClient) -> None:
    assert client.post("/v1/threads", json={"id": "c", "turns": []}).status_code == 201
    raw = b'{"k":"t","o":"asc","a":' + b"9" * 5000 + b',"b":null}'
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert client.get(f"/v1/threads/c?cursor={cursor}").status_code == 400
