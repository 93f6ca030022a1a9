"""The console's search page: escaped snippets with marked matches, linking to the turn."""

from __future__ import annotations

from collections.abc import Callable

from local_client import local_client
from search_support import index_now
from threadkeeper.api import create_app
from threadkeeper.settings import Settings


def test_search_page_escapes_snippets_and_links_to_the_turn(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    turns = [{"role": "user", "content": "hello"},
             {"role": "user", "content": "<script>alert(1)</script> the pelican & co"}]  # fmt: skip
    with local_client(create_app(settings)) as client:
        client.post("/v1/threads", json={"id": "p", "title": "Birds <b>", "turns": turns})
        assert "not built" in client.get("/ui/search", params={"q": "pelican"}).text
        index_now(settings)
        html = client.get("/ui/search", params={"q": "pelican"}).text
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<mark>pelican</mark> &amp; co" in html
        assert 'href="/ui/threads/p?after=1#turn-2"' in html
        assert "Birds &lt;b&gt;" in html
        turn_page = client.get("/ui/threads/p?after=1")
        assert 'id="turn-2"' in turn_page.text
        assert "Nothing found" in client.get("/ui/search", params={"q": "zzz"}).text
        assert 'id="search-lag"' in client.get("/ui/health").text
