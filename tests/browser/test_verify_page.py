"""The public receipt check page: a QR code of ``…/verify/#<token>`` opens it on a phone,
the page posts the fragment's token (never a URL query) and says in words what it found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from backend.receipts import service
from receipts import ReceiptKind
from tests.terminal_agent.backend_support import LiveBackend

pytestmark = pytest.mark.browser


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


def _verdict(browser: Any) -> str:
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "verdict").text.strip() != "")
    return str(browser.find_element(By.ID, "result").text)


def test_a_qr_code_link_checks_the_receipt_and_says_so(backend: LiveBackend, browser: Any):
    token, claims = service.sign_receipt(
        settings=backend.settings,
        kind=ReceiptKind.CONTRIBUTION,
        id_number="65422619580101002X",
        amount_fen=50000,
        receipt_number="SJ6542260000000001",
    )
    browser.get(f"{backend.url}/verify/#{token}")
    shown = _verdict(browser)
    assert "回执真实有效" in shown
    assert "缴费收据" in shown and "SJ6542260000000001" in shown and "500.00元" in shown
    assert "654226********002X" in shown
    assert "#" not in browser.current_url  # the token left the address bar

    prefix, payload, signature = token.split(".")
    browser.get(f"{backend.url}/verify/#{prefix}.{payload}.{signature[:-4]}AAAA")
    shown = _verdict(browser)
    assert "无法确认此回执为真" in shown and "可能被改动过" in shown
    assert claims.receipt_number not in shown
