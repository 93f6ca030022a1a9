"""Bearer tokens map to tenants; another tenant's thread answers exactly like a missing one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from threadkeeper.auth import add_token, check_bind, load_entries, revoke_token
from threadkeeper.errors import ConfigError


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "tokens.json"
    _, alice = add_token(path, "alice")
    _, bob = add_token(path, "bob")
    return path, alice, bob


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_stored_hashed(tokens: tuple[Path, str, str]) -> None:
    path, alice, _ = tokens
    text = path.read_text()
    assert alice not in text
    assert [e.tenant for e in load_entries(path)] == ["alice", "bob"]
    assert path.stat().st_mode & 0o077 == 0


def test_another_tenants_thread_is_indistinguishable_from_a_missing_one(
    make_client: Callable[..., TestClient], tokens: tuple[Path, str, str]
) -> None:
    path, alice, bob = tokens
    client = make_client(tokens_file=path)
    r = client.post("/v1/threads", json={"id": "secret"}, headers=bearer(alice))
    assert r.status_code == 201 and r.json()["thread"]["tenant"] == "alice"
    as_bob = client.get("/v1/threads/secret", headers=bearer(bob))
    missing = client.get("/v1/threads/never", headers=bearer(bob))
    assert as_bob.status_code == missing.status_code == 404
    assert as_bob.json()["reason"] == missing.json()["reason"] == "never_stored"
    assert as_bob.json()["detail"] == missing.json()["detail"].replace("never", "secret")
    turn = {"turns": [{"role": "user", "content": "x"}]}
    assert (
        client.post("/v1/threads/secret/turns", json=turn, headers=bearer(bob)).status_code == 404
    )
    assert client.delete("/v1/threads/secret", headers=bearer(bob)).status_code == 404
    assert client.get("/v1/threads", headers=bearer(bob)).json()["threads"] == []
    # Bob may use the same id: threads are per tenant.
    assert client.post("/v1/threads", json={"id": "secret"}, headers=bearer(bob)).status_code == 201
    assert (
        client.get("/v1/threads/secret", headers=bearer(alice)).json()["thread"]["tenant"]
        == "alice"
    )


def test_missing_unknown_and_revoked_tokens_are_401(
    make_client: Callable[..., TestClient], tokens: tuple[Path, str, str]
) -> None:
    path, alice, _ = tokens
    client = make_client(tokens_file=path)
    assert client.get("/v1/threads").status_code == 401
    assert client.get("/v1/threads", headers=bearer("tk_nope")).status_code == 401
    assert client.get("/v1/threads", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/v1/threads", headers=bearer(alice)).status_code == 200
    entry = next(e for e in load_entries(path) if e.tenant == "alice")
    assert revoke_token(path, entry.id)
    client.app.state.auth._checked = 0.0  # re-read now rather than within a second
    r = client.get("/v1/threads", headers=bearer(alice))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_without_tokens_one_tenant_and_loopback_only() -> None:
    check_bind("127.0.0.1", auth_enabled=False)
    check_bind("0.0.0.0", auth_enabled=True)
    with pytest.raises(ConfigError, match="THREADKEEPER_TOKENS_FILE"):
        check_bind("0.0.0.0", auth_enabled=False)


@pytest.mark.parametrize("host", ["127.evil.invalid", "127.0.0.1.nip.io", "1270.0.0.1"])
def test_the_loopback_check_reads_addresses_not_prefixes(host: str) -> None:
    with pytest.raises(ConfigError, match="not loopback"):
        check_bind(host, auth_enabled=False)
    for loopback in ("127.0.0.2", "::1", "[::1]", "localhost"):
        check_bind(loopback, auth_enabled=False)


def test_a_broken_tokens_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"nope": 1}))
    with pytest.raises(ConfigError, match="THREADKEEPER_TOKENS_FILE"):
        load_entries(path)


def test_with_tokens_health_and_metrics_need_one_probes_stay_open(
    make_client: Callable[..., TestClient], tokens: tuple[Path, str, str]
) -> None:
    path, alice, _ = tokens
    client = make_client(tokens_file=path, metrics_token="scrape-me")
    for route in ("/v1/health", "/metrics"):
        assert client.get(route).status_code == 401
        assert client.get(route, headers=bearer("wrong")).status_code == 401
        assert client.get(route, headers=bearer(alice)).status_code == 200
        assert client.get(route, headers=bearer("scrape-me")).status_code == 200
    assert client.get("/v1/threads", headers=bearer("scrape-me")).status_code == 401  # no tenant
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
