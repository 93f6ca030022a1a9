"""A home's layout is what users' existing homes hold: a path renamed here would leave their
data behind unseen on the next `up`. Each name is pinned as the module doc draws it."""

from __future__ import annotations

from pathlib import Path

from threadkeeper import home
from threadkeeper.home import DEFAULT_HOME, Home

ROOT = Path("/srv/tk")
LAYOUT = {
    "lock_file": "up.lock",
    "run_file": "run.json",
    "children_file": "children.json",
    "redis_run_file": "redis-run.json",
    "tokens_file": "tokens.json",
    "redis_dir": "redis",
    "redis_port_file": "redis/port",
    "logs_dir": "logs",
    "metrics_dir": "metrics",
    "archive_dir": "archive",
    "search_index": "search/index.sqlite3",
}


def test_every_path_of_a_home_keeps_its_name() -> None:
    paths = Home(ROOT)
    assert {name: getattr(paths, name) for name in LAYOUT} == {
        name: ROOT / relative for name, relative in LAYOUT.items()
    }
    assert paths.log("api-2") == ROOT / "logs" / "api-2.log"
    assert DEFAULT_HOME == Path(".threadkeeper")


def test_the_module_doc_draws_every_path_it_names() -> None:
    drawn = home.__doc__ or ""
    for relative in LAYOUT.values():
        assert Path(relative).name in drawn, relative
