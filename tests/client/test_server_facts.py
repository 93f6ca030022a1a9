"""The client keeps its own copies of facts the server declares (it imports no server
module: the import contract in pyproject.toml): these tests fail the day the copies part."""

from __future__ import annotations

from threadkeeper import keys
from threadkeeper.client import _base
from threadkeeper.integrations._langgraph_wire import thread_key
from threadkeeper.settings import Settings


def test_the_clients_id_rule_is_the_servers() -> None:
    assert _base.ID_PATTERN.pattern == keys.ID_PATTERN.pattern


def test_the_clients_default_address_is_where_the_server_listens_by_default() -> None:
    defaults = Settings()
    assert _base.DEFAULT_URL == f"http://{defaults.host}:{defaults.port}"


def test_a_langgraph_thread_id_the_server_takes_is_kept_and_any_other_is_hashed() -> None:
    longest = "a" * keys.MAX_ID
    assert thread_key(longest) == longest
    hashed = thread_key(longest + "a")
    assert hashed.startswith("lg-") and keys.ID_PATTERN.fullmatch(hashed)
    assert thread_key("user/42") != "user/42" and keys.ID_PATTERN.fullmatch(thread_key("user/42"))
