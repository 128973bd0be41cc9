"""The counter page in a real Chromium against the real backend and a real agent: the card
in pcscd + vpcd, the ID card on a pty scanner, the receipt on a TCP capture printer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from device_drivers.printer import decode_escpos
from tests.browser.conftest import screenshot
from tests.browser.world import Pensioner, bearer, make_pensioner, running_agent
from tests.pcsc_rig import PcscRig
from tests.terminal_agent.backend_support import CLERK, PASSWORD, LiveBackend

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


@pytest.fixture
def pensioner(backend: LiveBackend, rig: PcscRig) -> Pensioner:
    """A pensioner whose card is in the reader."""
    rig.fresh_card(generation=3)
    return make_pensioner(backend, rig)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _wait(browser: Any, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def _text(browser: Any, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def _has_class(browser: Any, element_id: str, name: str) -> bool:
    classes = browser.find_element(By.ID, element_id).get_attribute("class") or ""
    return name in classes.split()


def _press(browser: Any, key: str) -> None:
    browser.find_element(By.TAG_NAME, "body").send_keys(key)


def test_counter_visit_login_card_id_card_certify_and_receipt(
    browser: Any, backend: LiveBackend, pensioner: Pensioner, rig: PcscRig, tmp_path: Path
) -> None:
    with running_agent(tmp_path, backend) as (agent, agent_url):
        browser.get(f"{backend.url}/counter/?agent={agent_url}")

        # A wrong password: the backend's problem detail, in Chinese, on the page.
        browser.find_element(By.ID, "username").send_keys(CLERK)
        browser.find_element(By.ID, "password").send_keys("wrong-password", Keys.ENTER)
        _wait(browser).until(ec.visibility_of_element_located((By.ID, "notice")))
        assert "用户名或密码错误" in _text(browser, "notice")
        screenshot(browser, "counter-login-refused")

        browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER)
        _wait(browser).until(ec.visibility_of_element_located((By.ID, "work-view")))
        assert "李娜" in _text(browser, "operator-name")
        assert _text(browser, "operator-office") == "和布克赛尔镇社保所"
        # Device state from the agent's /v1/status and the WebSocket.
        _wait(browser).until(
            lambda b: (
                "ready"
                in b.find_element(
                    By.CSS_SELECTOR, '#devices li[data-device="card_reader"]'
                ).get_attribute("class")
            )
        )

        # A typed ID number with a wrong check character: a field error before any request.
        field = browser.find_element(By.ID, "id-number")
        field.send_keys(pensioner.id_number[:17] + ("0" if pensioner.id_number[17] != "0" else "1"))
        field.send_keys(Keys.ENTER)
        assert "校验位错误" in _text(browser, "id-number-error")
        assert field.get_attribute("aria-invalid") == "true"
        field.clear()

        # Swipe the card (F2): read, authenticated online, the holder shown.
        _press(browser, Keys.F2)
        _wait(browser).until(lambda b: _has_class(b, "check-card", "ok"))
        _wait(browser).until(lambda b: _text(b, "p-name") == pensioner.name)
        assert _text(browser, "p-id") == pensioner.id_number
        assert browser.find_element(By.ID, "certify").get_attribute("disabled") is not None

        # The pension and each part of its computation, with the policy version.
        officer = bearer(backend, CLERK)
        pension = httpx.get(
            f"{backend.url}/api/v1/benefits/pensions/{pensioner.person_id}", headers=officer
        ).json()
        assert _text(browser, "pen-monthly") == f"{_yuan(pension['monthly_fen'])} 元"
        rows = browser.find_elements(By.CSS_SELECTOR, "#pen-parts tbody tr")
        assert len(rows) == len(pension["computations"]) >= 1
        for row, computation in zip(rows, pension["computations"], strict=True):
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            assert cells[1] == _yuan(computation["minimum_fen"])
            assert cells[2] == _yuan(computation["topup_fen"])
            assert cells[3].startswith(_yuan(computation["bonus_fen"]))
            assert f"缴费 {computation['contribution_years']} 年" in cells[3]
            assert cells[4].startswith(_yuan(computation["account_fen"]))
            assert f"{_yuan(computation['balance_fen'])} ÷ {computation['divisor']}" in cells[4]
            assert cells[5] == _yuan(computation["total_fen"])
            assert cells[6].startswith(f"#{computation['policy_version_id']} ")
        # Awarded in 2020 and certified until 2021: overdue, and the page says so.
        assert _text(browser, "pen-due") == f"{pension['certified_until']}（已逾期，请办理认证）"
        assert "元" in _text(browser, "p-balance")
        assert _text(browser, "overpayments") == "无"

        # The ID card on the scanner (F3): both checks done, certification allowed.
        assert agent.scanner_simulator is not None
        agent.scanner_simulator.place(pensioner.id_card())
        _press(browser, Keys.F3)
        _wait(browser).until(lambda b: _has_class(b, "check-idcard", "ok"))
        _wait(browser).until(
            lambda b: b.find_element(By.ID, "certify").get_attribute("disabled") is None
        )
        screenshot(browser, "counter-before-certify")

        # Certify (F8) and print the receipt on the workstation printer.
        _press(browser, Keys.F8)
        _wait(browser, 20).until(lambda b: "已打印" in _text(b, "certify-result"))
        result = _text(browser, "certify-result")
        screenshot(browser, "counter-certified")

        # The card taken out: the agent's WebSocket event shows on the page.
        rig.remove()
        _wait(browser).until(lambda b: "社保卡已拔出" in _text(b, "events"))

    with backend.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.method, c.operator_id, c.next_due, p.certified_until, c.documents_seen "
                "FROM survival_certifications c JOIN pensions p ON p.id = c.pension_id "
                "WHERE p.person_id = :person"
            ),
            {"person": pensioner.person_id},
        ).all()
        clerk_id = connection.execute(
            text("SELECT id FROM operators WHERE username = :u"), {"u": CLERK}
        ).scalar_one()
    assert len(rows) == 1, "the certification was recorded once"
    method, operator_id, next_due, certified_until, documents_seen = rows[0]
    assert (method, operator_id) == ("counter", clerk_id)
    # The documents the clerk saw (card and ID card, both checked in this visit).
    assert documents_seen == "social_security_card,id_card"
    assert "核验证件：社会保障卡、居民身份证" in result
    assert str(next_due) == str(certified_until)
    assert f"下次认证截止日期：{next_due}" in result

    assert agent.capture is not None
    jobs = [job for job in agent.capture.wait_for_jobs(1) if b"\x1b@" in job.data]
    assert len(jobs) == 1, "one receipt printed"
    receipt = decode_escpos(jobs[0].data)
    assert "领取待遇资格认证回执" in receipt.text
    assert pensioner.name in receipt.text
    assert "柜面认证" in receipt.text
    assert str(next_due) in receipt.text
    assert receipt.barcodes and receipt.barcodes[0] in result
    check = httpx.post(
        f"{backend.url}/api/v1/public/receipts/verify", json={"token": receipt.qr_payloads[0]}
    ).json()
    assert check["genuine"] is True
    assert check["claims"]["kind"] == "survival"
    assert (
        check["claims"]["person"] == pensioner.id_number[:6] + "********" + pensioner.id_number[-4:]
    )
