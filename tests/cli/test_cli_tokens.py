"""`threadkeeper tokens add|list|revoke`, checked against the API itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Harness

from threadkeeper.home import Home


@pytest.fixture
def tokens_file(tk: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "secrets" / "tokens.json"
    monkeypatch.setenv("THREADKEEPER_TOKENS_FILE", str(path))
    return path


def _status(tk: Harness, tokens_file: Path, token: str) -> int:
    with tk.api(tokens_file=tokens_file) as client:
        headers = {"Authorization": f"Bearer {token}"}
        return client.get("/v1/threads", headers=headers).status_code


def test_added_token_authenticates_and_revoked_does_not(tk: Harness, tokens_file: Path) -> None:
    tk.seed("acme", "theirs")
    added = tk("tokens", "add", "--tenant", "acme")
    token = added.stdout.strip()
    assert token.startswith("tk_") and "\n" not in token
    assert "shown only this once" in added.stderr
    assert token not in tokens_file.read_text()  # only its hash is kept

    with tk.api(tokens_file=tokens_file) as client:
        response = client.get("/v1/threads", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert [t["id"] for t in response.json()["threads"]] == ["theirs"]

    (entry,) = json.loads(tk("tokens", "list", "--json").stdout)["tokens"]
    assert entry["tenant"] == "acme" and "sha256" not in entry
    assert tk("tokens", "revoke", entry["id"]).stdout.strip() == f"revoked token {entry['id']}"
    assert _status(tk, tokens_file, token) == 401
    assert tk("tokens", "list").stdout == ""


def test_list_shows_id_tenant_and_date(tk: Harness, tokens_file: Path) -> None:
    tk("tokens", "add", "--tenant", "one")
    tk("tokens", "add", "--tenant", "two")
    rows = [line.split() for line in tk("tokens", "list").stdout.splitlines()]
    assert [r[1] for r in rows] == ["one", "two"]
    assert all(len(r[0]) == 8 and r[2].endswith("Z") for r in rows)


def test_revoke_of_an_unknown_id_fails(tk: Harness, tokens_file: Path) -> None:
    result = tk("tokens", "revoke", "deadbeef", code=3)
    assert "no token with id 'deadbeef'" in result.stderr


def test_add_refuses_a_bad_tenant(tk: Harness, tokens_file: Path) -> None:
    result = tk("tokens", "add", "--tenant", "no spaces", code=2)
    assert "tenant 'no spaces' is not valid" in result.stderr
    assert not tokens_file.exists()


def test_without_a_tokens_file_the_home_holds_it(tk: Harness, tmp_path: Path) -> None:
    tk("tokens", "add", "--tenant", "acme")
    assert Home(tmp_path / "home").tokens_file.exists()


def test_a_user_token_acts_as_that_user(tk: Harness, tokens_file: Path) -> None:
    added = tk("tokens", "add", "--tenant", "acme", "--user", "alice")
    assert "user 'alice' of tenant 'acme'" in added.stderr
    token = added.stdout.strip()
    with tk.api(tokens_file=tokens_file) as client:
        made = client.post("/v1/threads", json={}, headers={"Authorization": f"Bearer {token}"})
        assert made.json()["thread"]["user_id"] == "alice"
    assert tk("tokens", "list").stdout.split()[-2:] == ["user", "alice"]
    assert "user" in tk("tokens", "add", "--tenant", "acme", "--user", "a:b", code=2).stderr
