"""The in-process TestClient, addressed by a loopback name.

Starlette's default base URL, http://testserver, is a name the app refuses with auth
off (api/hosts.py: only loopback names are served, against DNS rebinding), so every
in-process test talks to http://127.0.0.1 as a local tool would.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

LOOPBACK_BASE = "http://127.0.0.1"


def local_client(app: Any, **kwargs: Any) -> TestClient:
    return TestClient(app, base_url=LOOPBACK_BASE, **kwargs)
