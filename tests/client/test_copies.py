"""The client and the integrations import no server module (pyproject.toml's import-linter
contracts), so they keep their own copies of a few of the server's facts: each must equal
the server's."""

from __future__ import annotations

from typing import get_args

from threadkeeper import models
from threadkeeper.client import _types
from threadkeeper.integrations import _pal_format
from threadkeeper.wire import shapes


def test_the_client_orders_pages_as_the_server_does() -> None:
    assert get_args(_types.Order) == models.ORDERS


def test_the_pal_format_knows_the_server_s_roles_and_label_limit() -> None:
    assert _pal_format.ROLES == frozenset(models.ROLES)
    assert _pal_format.MAX_LABEL == shapes.MAX_LABEL
