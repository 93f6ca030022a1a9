"""Fixtures for the console tests: the app served on loopback, and one real Chromium."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from browser import chromium, missing_browser, serve
from selenium import webdriver

from threadkeeper.api import create_app
from threadkeeper.settings import Settings

# Where the browser tests save the README's screenshots (`make screenshots` sets it).
SCREENSHOTS = os.environ.get("SCREENSHOTS_DIR")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session, with a fresh profile."""
    problem = missing_browser()
    if problem is not None:
        pytest.fail(problem)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def page(browser: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The browser, with no cookies from an earlier test."""
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()


@pytest.fixture
def live(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., str]]:
    """Factory: serve the real app (settings overridable) on a free port; its base URL."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: object) -> str:
            return stack.enter_context(serve(create_app(make_settings(**overrides))))

        yield start


@pytest.fixture
def api() -> Iterator[Callable[..., httpx.Client]]:
    """Factory: an HTTP client for a served app's API (seeding threads, as a tool would)."""
    clients: list[httpx.Client] = []

    def make(base_url: str, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=base_url, headers=headers, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def screenshot(driver: webdriver.Chrome, name: str, tmp_path: Path) -> Path:
    """Save a full-page PNG of what the browser shows: in tmp_path, and in docs/ if asked."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 40, 2400)))
    target = Path(SCREENSHOTS) / name if SCREENSHOTS else tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(target))
    driver.set_window_size(1280, 900)
    return target
