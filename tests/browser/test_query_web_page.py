"""The 12333 web query in Chromium at a phone's size: sign in with the code from the memory
sender, read the records page; screenshots of both go to var/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from backend.app import create_app
from backend.db import make_session_factory, unit_of_work
from backend.query.sender import MemorySender
from tests.backend.money_world import add_resident
from tests.backend.test_interest import credit
from tests.browser.conftest import screenshot
from tests.terminal_agent.backend_support import LiveBackend
from tests.terminal_agent.support import ServerThread

pytestmark = pytest.mark.browser
PHONE = "13912345678"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, MemorySender, str]]:
    (tmp_path / "backend").mkdir()
    live = LiveBackend(tmp_path / "backend")
    with unit_of_work(make_session_factory(live.engine)) as s:
        person = add_resident(s, sequence=61, village="654226100200", name="巴特尔")
        person.phone = PHONE
        credit(s, person, dt.date(2025, 6, 1), 300_00)
        number = person.id_number
    app = create_app(live.settings)
    sink = MemorySender()
    app.state.query_code_sender = sink
    with ServerThread(app) as server:
        yield server.url, sink, number
    live.engine.dispose()


def test_a_resident_signs_in_on_a_phone_and_reads_the_records(
    served: tuple[str, MemorySender, str], browser: Any
):
    url, sink, number = served
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{url}/12333/")
        browser.find_element(By.ID, "id_number").send_keys(number)
        browser.find_element(By.ID, "name").send_keys("巴特尔")
        screenshot(browser, "12333-web-sign-in")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # A click submits the form; the next page arrives when it arrives.
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "code"))
        assert "验证码已发送到您登记的手机" in browser.find_element(By.TAG_NAME, "main").text
        code = re.search(r"验证码是(\d{6})", sink.messages[-1][1])
        assert code is not None
        browser.find_element(By.ID, "code").send_keys(code.group(1))
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/12333/me"))
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "个人账户余额：300.00 元" in main and "个人缴费" in main
        assert browser.current_url.endswith("/12333/me")
        # Fits the phone's width: nothing scrolls sideways.
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        )
        screenshot(browser, "12333-web-records")
    finally:
        browser.set_window_size(1366, 768)
