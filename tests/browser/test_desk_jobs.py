"""The desk's card, pension, death, transfer, certification and statement jobs in a real
Chromium against the real backend and agent: the pensioner's card in pcscd + vpcd, the ID
card on a pty scanner, receipts on a TCP capture printer. One world for the module; the
tests run in order as one counter day. Each checks the database and the decoded receipt;
the PDFs are read back with pdftotext; screenshots go to var/screenshots/."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend.accounts.interest import run_interest
from backend.accounts.models import Source
from backend.db import make_session_factory, unit_of_work
from backend.pki.models import BankPartner
from card_services import verify_pin
from card_services.demo import DEMO_PIN
from card_services.errors import PinWrongError
from tests.backend.benefits_support import add_candidate
from tests.backend.money_world import add_resident
from tests.backend.test_interest import credit
from tests.backend.test_statements import pdf_text, save_page
from tests.browser.conftest import screenshot
from tests.browser.test_desk import Desk
from tests.browser.world import VILLAGE, Pensioner, make_pensioner, running_agent
from tests.pcsc_rig import SLOT0_READER, PcscRig
from tests.terminal_agent.backend_support import CLERK, LiveBackend

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]

RARE = "𠮷田"  # CJK Extension B in the name: the header, the PDF and the receipt


class Jobs(Desk):
    """The module's world: a pensioner with the card in the reader, a young resident with a
    2020 account (named with 𠮷), and a resident of 60 with fifteen paid years."""

    rig: PcscRig
    resident_id: int
    candidate_id: int

    def wait(self, seconds: float = 10) -> WebDriverWait:
        """Wait, reading again what a re-render replaced meanwhile; at least 30 s, as the
        card's online checks and the printer are slow on a loaded machine."""
        return WebDriverWait(
            self.browser, max(seconds, 30), ignored_exceptions=(StaleElementReferenceException,)
        )

    def press(self, *keys: str) -> None:
        """A function key to the page (the body is never re-rendered; keys reach the
        document's handlers from it, whichever element had the focus)."""
        self.el("body").send_keys(*keys)

    def go(self, person_id: int, job: str) -> None:
        """Open a job of a resident without reloading the page (the visit's checks stay)."""
        target = f"#/person/{person_id}/{job}"

        def opened(_: Any) -> bool:
            if self.has(f"#tab-{job}[aria-selected=true]"):
                return True
            # The visit's last read (F3) may still be reopening the workspace on its
            # overview: ask again until the job is the one shown.
            self.browser.execute_script(
                "if (location.hash !== arguments[0]) location.hash = arguments[0]", target
            )
            return False

        self.wait(15).until(opened)

    def visit(self) -> None:
        """Log in, put the ID card on the scanner, F2 (card online) and F3 (ID card)."""
        self.login(CLERK)
        assert self.agent.scanner_simulator is not None
        self.agent.scanner_simulator.place(self.pensioner.id_card())
        self.press(Keys.F2)
        self.wait(20).until(
            lambda _: self.has("#p-name") and "社保卡已认证" in self.text("#check-card")
        )
        self.press(Keys.F3)
        self.wait(20).until(lambda _: "身份证已读" in self.text("#check-idcard"))
        # The ID card read opens the resident's overview: let it land before going on.
        landed = f"#/person/{self.pensioner.person_id}"
        self.wait().until(lambda _: self.browser.current_url.endswith(landed))
        self.wait().until(lambda _: self.has("#tab-overview[aria-selected=true]"))

    def audit(self, action: str) -> list[dict[str, Any]]:
        rows = self.sql("SELECT detail FROM audit_records WHERE action = :a ORDER BY id", a=action)
        return [json.loads(row[0]) for row in rows]


@pytest.fixture(scope="module")
def jobs(
    tmp_path_factory: pytest.TempPathFactory, pcsc_rig: PcscRig, chrome: Any
) -> Iterator[Jobs]:
    root = tmp_path_factory.mktemp("desk-jobs")
    (root / "backend").mkdir()
    with LiveBackend(root / "backend") as backend:
        pcsc_rig.fresh_card(generation=3)
        pensioner: Pensioner = make_pensioner(backend, pcsc_rig)
        factory = make_session_factory(backend.engine)
        with unit_of_work(factory) as session:
            session.add(BankPartner(code="RCC", name="和布克赛尔农村信用合作社"))
            resident = add_resident(session, sequence=81, village=VILLAGE, name=RARE)
            credit(session, resident, dt.date(2020, 3, 10), 30000)
            credit(session, resident, dt.date(2020, 3, 10), 4000, Source.GOVERNMENT_SUBSIDY)
            credit(session, resident, dt.date(2020, 12, 1), 10000)
            candidate = add_candidate(session, sequence=83, village=VILLAGE, name="其其格")
            resident_id = resident.id
        run_interest(factory=factory, year=2020)
        with running_agent(root, backend) as (agent, agent_url):
            world = Jobs(backend, agent, agent_url, chrome)
            world.pensioner, world.rig = pensioner, pcsc_rig
            world.resident_id, world.candidate_id = resident_id, candidate
            yield world
        pcsc_rig.remove()


def test_card_loss_written_then_cancelled_and_a_pin_reset_that_reaches_the_card(
    jobs: Jobs,
) -> None:
    jobs.visit()
    pensioner = jobs.pensioner
    jobs.go(pensioner.person_id, "card")
    jobs.wait().until(lambda _: jobs.has("#card-action-form"))
    assert jobs.text("#card-state") == "已启用"
    jobs.el("#card-action-form input[value=report_loss]").click()
    jobs.el("#card-action-form input[name=reason]").send_keys("钱包遗失")
    jobs.el("#card-action-submit").click()
    jobs.wait(20).until(lambda _: "已打印" in jobs.text(".receipt-line"))
    assert "正式挂失" in jobs.message()
    assert jobs.sql("SELECT state FROM cards WHERE id = :c", c=pensioner.card_id) == [("lost",)]
    (receipt,) = jobs.new_receipts(1)
    assert "挂失" in receipt.text and pensioner.name in receipt.text
    assert jobs.verify(receipt.qr_payloads[0])["claims"]["kind"] == "card_loss"
    screenshot(jobs.browser, "desk-card-lost")

    jobs.go(pensioner.person_id, "overview")
    jobs.go(pensioner.person_id, "card")
    jobs.wait().until(lambda _: jobs.text("#card-state") == "正式挂失")
    jobs.el("#card-action-form input[value=unblock]").click()
    jobs.el("#card-action-submit").click()
    jobs.wait(15).until(lambda _: "解除挂失" in jobs.message())
    assert jobs.sql("SELECT state FROM cards WHERE id = :c", c=pensioner.card_id) == [("active",)]

    # The PIN: blocked by three wrong tries, then reset at the desk (Virtual PCD has no pad).
    with jobs.rig.reader.connect(name=SLOT0_READER) as connection:
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017 - wrong, then blocked
                verify_pin(connection, "999999")
    jobs.go(pensioner.person_id, "overview")
    jobs.go(pensioner.person_id, "card")
    jobs.wait(15).until(lambda _: jobs.has("#pin-reset-form input[name=new_pin]"))
    jobs.el("#pin-reset-form input[name=new_pin]").send_keys("246810")
    jobs.el("#pin-reset-form input[name=confirm_pin]").send_keys("246811")
    jobs.el("#pin-reset-submit").click()
    jobs.wait().until(lambda _: "不一致" in jobs.text("#pin-reset-form"))
    confirm = jobs.el("#pin-reset-form input[name=confirm_pin]")
    confirm.clear()
    confirm.send_keys("246810", Keys.ENTER)
    jobs.wait(30).until(lambda _: "密码已重置" in jobs.message())
    assert "可试 3 次" in jobs.message()
    screenshot(jobs.browser, "desk-card-pin-reset")
    with jobs.rig.reader.connect(name=SLOT0_READER) as connection:
        verify_pin(connection, "246810")
        with pytest.raises(PinWrongError):
            verify_pin(connection, DEMO_PIN)
        verify_pin(connection, "246810")
    assert len(jobs.audit("card.pin_reset")) == 1
    (result,) = jobs.audit("card.pin_reset_result")
    assert result == {"card_answer": "9000", "verified": True, "entry": "keyboard"}
    assert not jobs.sql("SELECT id FROM audit_records WHERE detail LIKE '%246810%'")


def test_survival_f8_certifies_once_prints_and_a_second_time_is_said_plainly(jobs: Jobs) -> None:
    jobs.visit()
    pensioner = jobs.pensioner
    jobs.press(Keys.F8)  # opens the job
    jobs.wait().until(lambda _: jobs.has("#certify:enabled"))
    assert "可以办理" in jobs.text("#certify-hint")
    jobs.press(Keys.F8)  # certifies
    jobs.wait(20).until(lambda _: "已打印" in jobs.text(".receipt-line"))
    assert "资格认证成功" in jobs.text("#certified")
    assert jobs.el("#certify").get_attribute("disabled") is not None
    assert "本次已办理" in jobs.text("#certify-hint")
    rows = jobs.sql(
        "SELECT c.method, c.next_due, o.username FROM survival_certifications c "
        "JOIN pensions p ON p.id = c.pension_id JOIN operators o ON o.id = c.operator_id "
        "WHERE p.person_id = :p",
        p=pensioner.person_id,
    )
    assert len(rows) == 1 and rows[0][0] == "counter" and rows[0][2] == CLERK
    (receipt,) = jobs.new_receipts(1)
    assert pensioner.name in receipt.text and str(rows[0][1]) in receipt.text
    assert jobs.verify(receipt.qr_payloads[0])["claims"]["kind"] == "survival"
    screenshot(jobs.browser, "desk-survival-certified")

    jobs.visit()  # the same pensioner comes back the same day
    jobs.press(Keys.F8)
    jobs.wait().until(lambda _: jobs.has("#certify:enabled"))
    jobs.press(Keys.F8)
    message = jobs.message()
    assert "已办理过资格认证" in message and "无需再次办理" in message
    assert "already_certified" not in message.split("详情")[0]
    assert len(jobs.sql("SELECT id FROM survival_certifications")) == 1
    screenshot(jobs.browser, "desk-survival-second-time")


def test_statement_summary_on_the_receipt_printer_and_the_a4_pdfs(
    jobs: Jobs, tmp_path: Path
) -> None:
    jobs.login(CLERK)
    jobs.browser.get(f"{jobs.backend.url}/desk/#/person/{jobs.resident_id}/statements")
    jobs.wait(15).until(lambda _: jobs.has("#statement-form"))
    assert jobs.text("#p-name") == RARE
    Select(jobs.el("#statement-form select[name=year]")).select_by_value("2020")
    jobs.wait().until(lambda _: jobs.has("#statement-closing"))
    assert jobs.text("#statement-closing") == "443.83 元"
    jobs.el("#print-summary").click()
    jobs.wait(20).until(lambda _: "已打印" in jobs.text(".receipt-line"))
    (receipt,) = jobs.new_receipts(1)
    assert "个人账户对账单" in receipt.text and "年末余额：443.83" in receipt.text
    assert "2020年" in receipt.text and "本年个人缴费" in receipt.text
    claims = jobs.verify(receipt.qr_payloads[0])["claims"]
    assert claims["kind"] == "account_statement" and claims["amount_fen"] == 44383
    jobs.el("#statement-pdf").click()
    jobs.wait(15).until(lambda _: jobs.has("#pdf-ready"))
    screenshot(jobs.browser, "desk-statements")

    token = httpx.post(
        f"{jobs.backend.url}/api/v1/auth/login",
        json={"username": CLERK, "password": "Test-Passw0rd!"},
    ).json()["access_token"]
    pdf = httpx.get(
        f"{jobs.backend.url}/api/v1/persons/{jobs.resident_id}/statements/2020.pdf",
        headers={"Authorization": f"Bearer {token}"},
    )
    text = re.sub(r"\s+", " ", pdf_text(pdf.content, tmp_path))
    assert RARE in text and "本年利息 3.83 元" in text
    # The summary receipt and the PDF are one document: the same receipt number.
    assert f"单据号 {claims['receipt_number']}" in text
    save_page(pdf.content, tmp_path, "desk-statement-2020")


def test_pension_application_shows_every_rule_and_waits_for_the_reviewer(jobs: Jobs) -> None:
    jobs.login(CLERK)
    jobs.browser.get(f"{jobs.backend.url}/desk/#/person/{jobs.resident_id}/pension")
    jobs.wait(15).until(lambda _: jobs.has("#qualification-rules li"))
    young = jobs.browser.find_elements(By.CSS_SELECTOR, "#qualification-rules li")
    assert len(young) == 4
    assert "✗ 年满领取年龄：未满60周岁" in young[0].text
    assert jobs.el("#pension-submit").get_attribute("disabled") is not None
    screenshot(jobs.browser, "desk-pension-not-qualified")

    jobs.browser.get(f"{jobs.backend.url}/desk/#/person/{jobs.candidate_id}/pension")
    jobs.wait(15).until(lambda _: jobs.has("#qualification-rules li") and jobs.has("#qualifies"))
    rules = [
        li.text for li in jobs.browser.find_elements(By.CSS_SELECTOR, "#qualification-rules li")
    ]
    assert all(rule.startswith("✓") for rule in rules), rules
    Select(jobs.el("#pension-form select[name=bank_code]")).select_by_value("RCC")
    jobs.el("#pension-form input[name=bank_account]").send_keys("6230000099990001", Keys.ENTER)
    jobs.wait(15).until(lambda _: "待遇申请已提交" in jobs.message())
    screenshot(jobs.browser, "desk-pension-applied")
    rows = jobs.sql(
        "SELECT a.status, o.username FROM benefit_applications a "
        "JOIN operators o ON o.id = a.maker_id WHERE a.person_id = :p",
        p=jobs.candidate_id,
    )
    assert rows == [("pending", CLERK)]


def test_transfer_out_of_the_province_moves_the_balance_once(jobs: Jobs) -> None:
    jobs.login(CLERK)
    jobs.browser.get(f"{jobs.backend.url}/desk/#/person/{jobs.resident_id}/transfer")
    jobs.wait(15).until(lambda _: jobs.has("#transfer-form"))
    jobs.el("#transfer-form input[value=province]").click()
    jobs.el("#transfer-submit").click()
    jobs.wait().until(lambda _: "请填写转入地经办机构" in jobs.text("#transfer-form"))
    jobs.el("#transfer-form input[name=to_agency]").send_keys("甘肃省张掖市社会保险事业管理局")
    jobs.el("#transfer-submit").click()
    jobs.wait(15).until(lambda _: "转移已办理" in jobs.message())
    assert "443.83" in jobs.message()
    screenshot(jobs.browser, "desk-transfer-out")
    rows = jobs.sql(
        "SELECT kind, balance_fen, to_agency FROM transfers WHERE person_id = :p",
        p=jobs.resident_id,
    )
    assert rows == [("out_of_province", 44383, "甘肃省张掖市社会保险事业管理局")]


def test_death_report_with_its_evidence_suspends_the_pension(jobs: Jobs) -> None:
    jobs.login(CLERK)
    pensioner = jobs.pensioner
    jobs.browser.get(f"{jobs.backend.url}/desk/#/person/{pensioner.person_id}/death")
    jobs.wait(15).until(lambda _: jobs.has("#death-form"))
    jobs.el("#death-submit").click()
    jobs.wait().until(lambda _: "请填写死亡日期" in jobs.text("#death-form"))
    died_on = dt.date.today() - dt.timedelta(days=3)
    jobs.browser.execute_script(
        "document.querySelector('#death-form input[name=died_on]').value = arguments[0]",
        died_on.isoformat(),
    )
    jobs.el("#death-form input[name=number]").send_keys("M65422620260001")
    jobs.el("#death-form input[name=reported_by]").send_keys("乌云")
    jobs.el("#death-form input[name=relationship]").send_keys("女儿", Keys.ENTER)
    jobs.wait(15).until(lambda _: "待遇已暂停" in jobs.message())
    screenshot(jobs.browser, "desk-death-reported")
    cases = jobs.sql(
        "SELECT status, source FROM death_cases WHERE person_id = :p", p=pensioner.person_id
    )
    assert cases == [("pending", "counter")]
    status = jobs.sql("SELECT status FROM pensions WHERE person_id = :p", p=pensioner.person_id)
    assert status == [("suspended",)]
    (report,) = jobs.audit("death.report")
    assert report["evidence"] == {
        "kind": "death_certificate",
        "number": "M65422620260001",
        "reported_by": "乌云",
        "relationship": "女儿",
    }
