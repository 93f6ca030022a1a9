"""A real headless Chromium driven by Selenium, and the app served by uvicorn on loopback.

Debian's `chromium` and `chromium-driver` (the Makefile installs them): Selenium is
pointed at both executables, so it never looks for or downloads a browser of its own.
Every process started here is stopped by pid or process group at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette

import waiting
from threadkeeper.daemon.redis_server import free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars",
)  # fmt: skip
WAIT = 30.0  # a shared, slow machine: generous, and polled


def missing_browser() -> str | None:
    """What to install when the browser or its driver is not there."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            return (
                f"{path} is missing: run `make chromium` (Debian: apt-get install chromium "
                "chromium-driver), or set CHROMIUM / CHROMEDRIVER to their paths"
            )
    return None


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on a free loopback port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-ui-test", daemon=True)
    thread.start()
    waiting.wait_for(lambda: server.started or not thread.is_alive(), "uvicorn", timeout=WAIT)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT)


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile; it and its driver are gone afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Its own session: the driver and every browser process it starts share a group.
    service = Service(
        CHROMEDRIVER, log_output=subprocess.DEVNULL, popen_kw={"start_new_session": True}
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    group = os.getpgid(service.process.pid)
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            _stop_group(group)


def _stop_group(group: int) -> None:
    """SIGTERM what is left of the group, then SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        if waiting.wait_for(lambda: not _group_alive(group), "", timeout=grace, fail=False):
            return


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(driver: webdriver.Chrome, found: Callable[[webdriver.Chrome], object]) -> object:
    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(found)


def text_of(driver: webdriver.Chrome, css: str) -> str:
    element: WebElement = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css))  # type: ignore[assignment]
    return element.text


def click(driver: webdriver.Chrome, css: str) -> None:
    """Click and wait for the page it leads to (the old page's body goes stale)."""
    old = driver.find_element(By.TAG_NAME, "body")
    driver.find_element(By.CSS_SELECTOR, css).click()
    wait_for(driver, lambda d: _stale(old))


def _stale(element: WebElement) -> bool:
    try:
        element.is_enabled()
    except Exception:  # StaleElementReferenceException: the page was replaced
        return True
    return False
