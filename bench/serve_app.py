"""The app uvicorn serves in the bench: `uvicorn --factory serve_app:build`."""

from __future__ import annotations

from starlette.applications import Starlette

from threadkeeper.api import create_app
from threadkeeper.settings import Settings


def build() -> Starlette:
    return create_app(Settings.from_env())
