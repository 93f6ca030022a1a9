def test_round_trip(client):
    r = client.post("/v1/threads", json={"id": "t1", "turns": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 201, r.text
    r = client.post("/v1/threads/t1/turns", json={"turns": [{"role": "assistant", "content": "yo"}]})
    assert r.status_code == 201, r.text
    assert r.json() == {"seqs": [2], "version": 2}
    r = client.get("/v1/threads/t1")
    assert r.status_code == 200, r.text
    print(r.json())
    assert [t["content"] for t in r.json()["turns"]] == ["hi", "yo"]
