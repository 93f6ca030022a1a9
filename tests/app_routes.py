"""Every (method, path template) an app answers, read from its routes: a new route is seen."""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, Mount, Route, compile_path

Endpoint = tuple[str, str]  # (method, path template)


def endpoints(routes: list[BaseRoute], prefix: str = "") -> dict[Endpoint, re.Pattern[str]]:
    """Every (method, template) the routes answer, mounts flattened; HEAD goes with GET."""
    found: dict[Endpoint, re.Pattern[str]] = {}
    for route in routes:
        if isinstance(route, Route):
            template = prefix + route.path
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found[method, template] = compile_path(template)[0]
        elif isinstance(route, Mount) and route.routes:
            found |= endpoints(route.routes, prefix + route.path)
        elif isinstance(route, Mount):  # an app (the static files): any path under it
            template = prefix + route.path + "/{path:path}"
            found["GET", template] = compile_path(template)[0]
        else:
            raise AssertionError(f"{route!r}: a kind of route this test does not know; teach it")
    return found
