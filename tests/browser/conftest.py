"""The browser rig: headless Chromium driven by selenium through chromedriver.

Missing Chromium, chromedriver or selenium skips the ``browser`` tests locally and fails
them when ``XNB_REQUIRE_RIGS=1`` (CI), like every other rig.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing

_CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
#: Where the tests save what the pages looked like (``var/`` is not committed).
SCREENSHOT_DIR = Path(os.environ.get("XNB_SCREENSHOT_DIR", "var/screenshots"))


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Chromium and chromedriver, found on PATH (Debian: ``chromium``, ``chromium-driver``)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing("selenium is not installed (pip install -e .[dev])")
    chromium = _find(_CHROMIUM)
    driver = _find(("chromedriver",))
    if chromium is None or driver is None:
        missing("Chromium or chromedriver not found (apt-get install chromium chromium-driver)")
    assert chromium is not None and driver is not None
    return chromium, driver


@pytest.fixture(scope="session")
def chrome(browser_binaries: tuple[str, str]) -> Iterator[Any]:
    """One headless Chromium at 1366×768 for the run (each test opens its own pages)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,768",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
    except WebDriverException as exc:
        missing(f"Chromium did not start: {exc.msg}")
        return
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test, for the browser fixture to see a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser(chrome: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The run's browser with a clean slate; on failure the page and its console are kept."""
    yield chrome
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        path = screenshot(chrome, f"failed-{request.node.name}")
        console = "\n".join(str(entry) for entry in chrome.get_log("browser"))
        print(f"screenshot of the failed page: {path}\nbrowser console:\n{console}")
    chrome.get("about:blank")
    chrome.delete_all_cookies()


def screenshot(driver: Any, name: str) -> Path:
    """Save what the page looks like now as ``var/screenshots/<name>.png``."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
