"""The console in a real headless Chromium: find, open, page, fork, archive, rehydrate,
delete; health after Redis lost its data; tenants kept apart; untrusted content as text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from browser import click, text_of, wait_for
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import screenshot
from threadkeeper import keys
from threadkeeper.auth import add_token
from threadkeeper.daemon.redis_server import ManagedRedis
from threadkeeper.models import DEFAULT_TENANT

pytestmark = pytest.mark.browser

Live = Callable[..., str]
Api = Callable[..., httpx.Client]


def _turns(count: int, start: int = 1) -> list[dict[str, str]]:
    return [
        {"role": "user" if n % 2 else "assistant", "content": f"turn {n}: " + "words " * (n % 7),
         **({} if n % 2 else {"model": "gpt-5"})}
        for n in range(start, start + count)
    ]  # fmt: skip


def _seed(client: httpx.Client) -> None:
    """A few threads as chat tools leave them; the one to find has 120 turns."""
    for thread_id, title, tool in (
        ("release-notes", "Release notes for 0.3", "chat"),
        ("bug-1402", "Bug 1402: flaky sweeper test", "debug"),
        ("design-cache", "Design review of the cache layer", "thinkdeep"),
        ("k8s-rollout", "Kubernetes rollout plan", "planner"),
    ):
        turns = _turns(120) if thread_id == "design-cache" else _turns(6)
        r = client.post("/v1/threads", json={"id": thread_id, "title": title, "tool": tool,
                                              "turns": turns[:100]})  # fmt: skip
        assert r.status_code == 201, r.text
        if len(turns) > 100:
            r = client.post(f"/v1/threads/{thread_id}/turns", json={"turns": turns[100:]})
            assert r.status_code == 201, r.text


def _shown_seqs(driver: webdriver.Chrome) -> list[int]:
    items = driver.find_elements(By.CSS_SELECTOR, "#turns li.turn[data-seq]")
    return [int(item.get_attribute("data-seq") or 0) for item in items]


def test_find_page_fork_archive_rehydrate_delete(
    live: Live, api: Api, page: webdriver.Chrome, redis_url: str, tmp_path: Path
) -> None:
    base = live()
    _seed(api(base))
    page.get(base + "/")  # a browser asking for / lands on the console
    assert page.current_url == base + "/ui/threads"
    assert len(page.find_elements(By.CSS_SELECTOR, "#threads tbody tr[data-id]")) == 4
    screenshot(page, "console-threads.png", tmp_path)

    page.find_element(By.ID, "prefix").send_keys("design rev")
    click(page, "#search")
    rows = page.find_elements(By.CSS_SELECTOR, "#threads tbody tr[data-id]")
    assert [r.get_attribute("data-id") for r in rows] == ["design-cache"]
    assert "120" in rows[0].text and "thinkdeep" in rows[0].text and "hot" in rows[0].text

    click(page, "#threads a.thread-link")
    assert text_of(page, "#thread-title") == "Design review of the cache layer"
    assert _shown_seqs(page) == list(range(1, 51))
    click(page, "nav.pager a.next")
    assert _shown_seqs(page) == list(range(51, 101))
    click(page, "nav.pager a.last")
    assert _shown_seqs(page) == list(range(71, 121))
    click(page, "nav.pager a.previous")
    assert _shown_seqs(page) == list(range(21, 71))
    header = text_of(page, "#turn-22 header").lower()
    assert "assistant" in header and "gpt-5" in header

    click(page, "nav.pager a.first")
    click(page, "#archive")
    assert text_of(page, "#done").startswith("Archived")
    assert text_of(page, "#archived-version") == text_of(page, "#version")
    screenshot(page, "console-thread.png", tmp_path)

    # The hot copy lapses (as after THREADKEEPER_HOT_TTL idle): Rehydrate brings it back.
    conn = redis.Redis.from_url(redis_url)
    conn.delete(keys.thread_keys(DEFAULT_TENANT, "design-cache").turns)
    click(page, "#rehydrate")
    assert text_of(page, "#done").startswith("Rehydrated from the archive")
    assert conn.exists(keys.thread_keys(DEFAULT_TENANT, "design-cache").turns)
    conn.close()
    assert _shown_seqs(page) == list(range(1, 51))

    click(page, "#turn-7 form.fork button")
    assert text_of(page, "#done").startswith("Forked")
    assert _shown_seqs(page) == list(range(1, 8))
    assert text_of(page, "#parent-link") == "design-cache"
    fork_id = text_of(page, "#thread-id")
    assert fork_id != "design-cache"
    assert api(base).get(f"/v1/threads/{fork_id}").json()["thread"]["fork_seq"] == 7

    click(page, "#parent-link")
    click(page, "#delete")
    assert "cannot be restored" in text_of(page, "main")
    click(page, "#confirm-delete")
    assert page.current_url.endswith("/ui/threads/design-cache")
    assert text_of(page, "#reason") == "deleted"
    deleted_at = page.find_element(By.ID, "deleted-at").get_attribute("datetime") or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", deleted_at)
    assert "was deleted by request at " + deleted_at in text_of(page, "#problem")
    assert api(base).get("/v1/threads/design-cache").json()["deleted_at"] == deleted_at


def _some_traffic(client: httpx.Client, driver: webdriver.Chrome, base: str) -> None:
    """Appends and reads between health page views, so the chart has rates to draw."""
    thread_id = client.post("/v1/threads", json={"turns": _turns(1)}).json()["thread"]["id"]
    for n in range(4):
        before = _samples(driver, base)
        r = client.post(f"/v1/threads/{thread_id}/turns", json={"turns": _turns(5 + 10 * n)})
        assert r.status_code == 201, r.text
        for _ in range(n + 1):
            client.get(f"/v1/threads/{thread_id}")
        # A page view samples the counters at most once a second: until one has.
        wait_for(driver, lambda d, seen=before: _samples(d, base) > seen)


def _samples(driver: webdriver.Chrome, base: str) -> int:
    """How many samples of the counters the health page's chart is drawn from."""
    driver.get(base + "/ui/health")
    return int(driver.find_element(By.ID, "trend").get_attribute("data-samples") or 0)


def test_health_shows_a_restart_that_lost_the_data(
    live: Live, api: Api, page: webdriver.Chrome, tmp_path: Path
) -> None:
    server = ManagedRedis(tmp_path / "volatile", extra_args=["--appendonly", "no", "--save", ""])
    server.start()
    try:
        base = live(redis_url=server.url)
        page.get(base + "/ui/health")  # arms the canary
        assert text_of(page, "#survived") == "no restart seen"
        assert text_of(page, "#loss-window") == "all-since-last-save"
        server.restart()

        def lost(driver: webdriver.Chrome) -> bool:
            driver.get(base + "/ui/health")
            return text_of(driver, "#survived") == "false"

        wait_for(page, lost)
        assert page.find_element(By.ID, "data-lost-at").text.endswith("UTC")
        assert "appendonly" in text_of(page, "#warnings")
        assert page.find_element(By.ID, "memory-gauge").get_attribute("value")
        _some_traffic(api(base), page, base)
        appends = page.find_element(By.CSS_SELECTOR, "figure[data-series='appends']")
        assert appends.find_element(By.TAG_NAME, "polyline").get_attribute("points")
        assert float(appends.get_attribute("data-peak") or 0) > 0  # the appends are drawn
        screenshot(page, "console-health.png", tmp_path)
    finally:
        server.stop()


def test_a_token_never_shows_another_tenants_thread(
    live: Live, api: Api, page: webdriver.Chrome, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    _, alice = add_token(tokens, "alice")
    _, bob = add_token(tokens, "bob")
    base = live(tokens_file=tokens)
    assert api(base, alice).post("/v1/threads", json={"id": "alice-plan", "title": "Alice's plan",
                                 "turns": _turns(2)}).status_code == 201  # fmt: skip
    assert api(base, bob).post("/v1/threads", json={"id": "bob-secret", "title": "Bob's secret",
                               "turns": _turns(2)}).status_code == 201  # fmt: skip

    page.get(base + "/ui/threads")
    assert "/ui/login" in page.current_url  # asked once for a token
    page.find_element(By.ID, "token").send_keys(alice)
    click(page, "form[action='/ui/login'] button")
    ids = [r.get_attribute("data-id") for r in page.find_elements(By.CSS_SELECTOR, "tr[data-id]")]
    assert ids == ["alice-plan"]
    cookie = page.get_cookie("tk_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.execute_script("return document.cookie") == ""  # no script can read it

    for path in ("/ui/threads/bob-secret", "/ui/threads/bob-secret/export.jsonl",
                 "/ui/threads?prefix=bob"):  # fmt: skip
        page.get(base + path)
        assert "Bob's secret" not in page.page_source and "bob-secret</a>" not in page.page_source
    page.get(base + "/ui/threads/bob-secret")
    assert text_of(page, "#reason") == "never_stored"

    click(page, "form.logout button")
    assert "/ui/login" in page.current_url
    page.find_element(By.ID, "token").send_keys(bob)
    click(page, "form[action='/ui/login'] button")
    ids = [r.get_attribute("data-id") for r in page.find_elements(By.CSS_SELECTOR, "tr[data-id]")]
    assert ids == ["bob-secret"]


XSS_TITLE = "<img src=x onerror=\"window.__xss='title'\">Quarterly plan"
XSS_TURN = "<script>window.__xss='turn'</script><b id=\"injected\">bold?</b> & done"


def test_markup_in_a_turn_stays_text(live: Live, api: Api, page: webdriver.Chrome) -> None:
    base = live()
    r = api(base).post(
        "/v1/threads",
        json={
            "id": "xss",
            "title": XSS_TITLE,
            "turns": [
                {"role": "user", "content": XSS_TURN, "model": "<i>m</i>", "tool_name": "<u>t</u>"}
            ],
        },
    )
    assert r.status_code == 201, r.text
    for path in ("/ui/threads", "/ui/threads/xss"):
        page.get(base + path)
        assert page.execute_script("return window.__xss === undefined")  # nothing ran
        assert not page.find_elements(By.ID, "injected")  # no element was made
        assert not page.find_elements(By.CSS_SELECTOR, "main img, main i, main u")
    assert text_of(page, "#turn-1 pre.content") == XSS_TURN  # shown, as text
    assert text_of(page, "#thread-title") == XSS_TITLE
    assert "<i>m</i>" in text_of(page, "#turn-1 header")


def test_copy_a_continuation_id_and_see_missing_turns(
    live: Live, api: Api, page: webdriver.Chrome, redis_url: str
) -> None:
    base = live()
    body = {"id": "gappy-thread", "title": "Gappy", "turns": _turns(6)}
    assert api(base).post("/v1/threads", json=body).status_code == 201
    conn = redis.Redis.from_url(redis_url)
    conn.xdel(keys.thread_keys(DEFAULT_TENANT, "gappy-thread").turns, "0-3", "0-4")
    conn.close()

    page.get(base + "/ui/threads")
    page.find_element(By.CSS_SELECTOR, "tr[data-id='gappy-thread'] button.copy").click()
    wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-id='gappy-thread'] "
                                            "button.copy").text == "Copied")  # fmt: skip
    field = page.find_element(By.ID, "prefix")
    field.click()
    field.send_keys(Keys.CONTROL, "v")  # what the button put on the clipboard
    assert field.get_attribute("value") == "gappy-thread"

    page.get(base + "/ui/threads/gappy-thread")
    assert _shown_seqs(page) == [1, 2, 5, 6]
    gap = page.find_element(By.CSS_SELECTOR, "li.turn.missing")
    assert gap.get_attribute("data-missing") == "3-4" and "Nothing holds" in gap.text
