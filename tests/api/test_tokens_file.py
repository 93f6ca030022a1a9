"""A tokens file that does not read: the API keeps its last good tokens, says so to the
operator (log, health), and never shows a client the file or its path."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from threadkeeper.auth import TokenAuth, add_token

MakeClient = Callable[..., TestClient]


@pytest.fixture(autouse=True)
def _reload_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenAuth, "RELOAD_EVERY", 0.0)


def _spoil(path: Path, text: str = '{"tokens": [ {"id": ') -> None:
    """A hand edit gone wrong; its mtime moved on so the API sees a change."""
    stat = path.stat() if path.exists() else None
    path.write_text(text)
    if stat is not None:
        os.utime(path, (stat.st_atime, stat.st_mtime + 5))


def test_a_spoiled_file_keeps_the_last_good_tokens(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = tmp_path / "tokens.json"
    _, alice = add_token(tokens, "alice")
    client = make_client(tokens_file=tokens)
    bearer = {"authorization": f"Bearer {alice}"}
    assert client.post("/v1/threads", json={"id": "a"}, headers=bearer).status_code == 201
    caplog.set_level(logging.ERROR, "threadkeeper.auth")
    _spoil(tokens)
    assert client.get("/v1/threads/a", headers=bearer).status_code == 200
    stranger = client.get("/v1/threads/a", headers={"authorization": "Bearer tk_nope"})
    assert stranger.status_code == 401 and str(tmp_path) not in stranger.text
    assert any(str(tokens) in r.getMessage() for r in caplog.records)
    warnings = client.get("/v1/health", headers=bearer).json()["warnings"]
    assert any("is not a tokens file" in w and "last read" in w for w in warnings), warnings


def test_with_no_tokens_ever_read_every_request_is_503_naming_no_path(
    make_client: MakeClient, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    _spoil(tokens)
    client = make_client(tokens_file=tokens)
    for headers in ({}, {"authorization": "Bearer tk_anything"}):
        r = client.get("/v1/threads", headers=headers)
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("/auth-unavailable") and str(tmp_path) not in r.text
    r = client.get("/v1/conversations/x", headers={"authorization": "Bearer tk_anything"})
    assert r.status_code == 503 and str(tmp_path) not in r.text
    tokens.unlink()
    _, alice = add_token(tokens, "alice")  # fixed: it reads, and serves at once
    assert client.get("/v1/threads", headers={"authorization": f"Bearer {alice}"}).is_success
