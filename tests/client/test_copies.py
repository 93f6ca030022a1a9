"""The client and the integrations import no server module (pyproject.toml's import-linter
contracts), so they keep their own copies of a few of the server's facts: each must equal
the server's."""

from __future__ import annotations

from typing import get_args

from threadkeeper import keys, models
from threadkeeper.client import _base, _types
from threadkeeper.integrations import _pal_format
from threadkeeper.integrations._langgraph_wire import thread_key
from threadkeeper.settings import Settings
from threadkeeper.wire import shapes


def test_the_client_orders_pages_as_the_server_does() -> None:
    assert get_args(_types.Order) == models.ORDERS


def test_the_pal_format_knows_the_server_s_roles_and_label_limit() -> None:
    assert _pal_format.ROLES == frozenset(models.ROLES)
    assert _pal_format.MAX_LABEL == shapes.MAX_LABEL


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
