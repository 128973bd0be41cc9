"""The staff application (/desk/) in a real Chromium against the real backend and a real
agent: the card in pcscd + vpcd, the ID card on a pty scanner, receipts on a TCP capture
printer. One backend, agent and browser for the module; the tests run in order as one
counter day (the last one signs the day off)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from backend.audit.service import Actor
from backend.db import make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.orgs.models import Office
from backend.orgs.permissions import Role
from backend.pki.models import BankPartner
from device_drivers.printer import decode_escpos
from tests.backend.money_world import add_resident, id_number
from tests.browser.conftest import screenshot
from tests.browser.world import OFFICE, REVIEWER, VILLAGE, Pensioner, make_pensioner, running_agent
from tests.pcsc_rig import PcscRig
from tests.terminal_agent.backend_support import CLERK, PASSWORD, LiveBackend

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]

THIS_YEAR = dt.date.today().year
RARE_NAME = "𠮷祥"  # CJK Extension B: must not render as a box
NEWCOMER_ID = id_number("654226", dt.date(1985, 6, 1), 71)
AUDITOR = "auditor_hbk"


class Desk:
    """The module's world: backend, agent, residents, and the browser on the desk."""

    def __init__(self, backend: LiveBackend, agent: Any, agent_url: str, browser: Any) -> None:
        self.backend, self.agent, self.agent_url, self.browser = backend, agent, agent_url, browser
        self.pensioner: Pensioner
        self.rare_id = 0
        self.older_id = 0
        self.printed = 0

    # -- browser --
    def wait(self, seconds: float = 10) -> WebDriverWait:
        """Wait, reading again an element that a re-render replaced meanwhile."""
        return WebDriverWait(
            self.browser, seconds, ignored_exceptions=(StaleElementReferenceException,)
        )

    def el(self, css: str) -> Any:
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return str(self.el(css).text)

    def has(self, css: str) -> bool:
        return bool(self.browser.find_elements(By.CSS_SELECTOR, css))

    def press(self, *keys: str) -> None:
        self.browser.switch_to.active_element.send_keys(*keys)

    def login(self, username: str) -> None:
        self.browser.get(f"{self.backend.url}/desk/?agent={self.agent_url}")
        self.wait().until(lambda b: self.has("#logout") or self.has("input[name=username]"))
        if self.has("#logout"):
            self.el("#logout").click()
        self.wait().until(lambda b: self.has("input[name=username]"))
        self.el("input[name=username]").send_keys(username)
        self.el("input[name=password]").send_keys(PASSWORD, Keys.ENTER)
        self.wait().until(lambda b: self.has("#operator-name"))

    def message(self) -> str:
        self.wait().until(lambda b: self.has(".view > .message:not([hidden])"))
        return self.text(".view > .message")

    # -- database and printer --
    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.backend.engine.connect() as connection:
            return list(connection.execute(text(query), params).all())

    def new_receipts(self, count: int = 1) -> list[Any]:
        """The receipts printed since the last call, decoded."""
        assert self.agent.capture is not None
        jobs = [
            j
            for j in self.agent.capture.wait_for_jobs(self.printed + count, timeout=10)
            if b"\x1b@" in j.data
        ]
        fresh = jobs[self.printed :]
        self.printed = len(jobs)
        return [decode_escpos(j.data) for j in fresh]

    def verify(self, token: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.backend.url}/api/v1/public/receipts/verify", json={"token": token}
        )
        return dict(answer.json())


@pytest.fixture(scope="module")
def desk(
    tmp_path_factory: pytest.TempPathFactory, pcsc_rig: PcscRig, chrome: Any
) -> Iterator[Desk]:
    root = tmp_path_factory.mktemp("desk")
    (root / "backend").mkdir()
    with LiveBackend(root / "backend") as backend:
        pcsc_rig.fresh_card(generation=3)
        pensioner = make_pensioner(backend, pcsc_rig)
        factory = make_session_factory(backend.engine)
        with unit_of_work(factory) as session:
            office = session.query(Office).filter_by(code=OFFICE).one()
            orgs.create_operator(
                session=session,
                principal=None,
                actor=Actor.system(),
                username=AUDITOR,
                full_name="赵审计",
                role=Role.AUDIT_ADMIN,
                office_id=office.id,
                password=PASSWORD,
            )
            session.add(BankPartner(code="RCC", name="和布克赛尔农村信用合作社"))
            rare = add_resident(session, sequence=61, village=VILLAGE, name=RARE_NAME)
            older = add_resident(
                session,
                sequence=63,
                village=VILLAGE,
                name="其木格",
                birth=dt.date(THIS_YEAR - 52, 2, 1),
            )
            rare_id, older_id = rare.id, older.id
        with running_agent(root, backend) as (agent, agent_url):
            world = Desk(backend, agent, agent_url, chrome)
            world.pensioner, world.rare_id, world.older_id = pensioner, rare_id, older_id
            yield world
        pcsc_rig.remove()


def test_login_header_and_navigation_by_permission(desk: Desk) -> None:
    b = desk.browser
    b.get(f"{desk.backend.url}/desk/?agent={desk.agent_url}")
    desk.wait().until(lambda _: desk.has("input[name=username]"))
    desk.el("input[name=username]").send_keys(CLERK)
    desk.el("input[name=password]").send_keys("wrong-password", Keys.ENTER)
    desk.wait().until(lambda _: "用户名或密码错误" in desk.text(".login .message"))
    assert "invalid" not in desk.text(".login .message-text")
    screenshot(b, "desk-login-refused")

    desk.login(CLERK)
    assert desk.text("#operator-name") == "李娜"
    assert desk.text("#operator-office") == "和布克赛尔镇社保所"
    assert desk.text("#operator-role") == "经办员"
    assert desk.text(".topbar").count("经办员") == 1, "the role once"
    nav = desk.text("#nav")
    assert "查找参保人" in nav and "参保登记" in nav and "日结" in nav
    assert "复核待办" not in nav
    desk.wait().until(
        lambda _: "ready" in (desk.el('#devices li[data-device="printer"]').get_attribute("class"))
    )

    desk.login(REVIEWER)
    nav = desk.text("#nav")
    assert "复核待办" in nav and "参保登记" not in nav

    desk.login(AUDITOR)
    assert desk.text("#operator-role") == "审计管理员"
    assert desk.text("#nav").strip() == ""
    assert "没有可办理的业务" in desk.message()
    screenshot(b, "desk-auditor")


def test_card_f2_opens_the_pensioner_with_names_not_codes(desk: Desk) -> None:
    desk.login(CLERK)
    desk.press(Keys.F2)
    desk.wait(20).until(lambda _: desk.has("#p-name"))
    assert desk.text("#p-name") == desk.pensioner.name
    assert "社保卡已认证" in desk.text("#check-card")
    desk.wait().until(lambda _: desk.text("#p-region") != "…")
    assert desk.text("#p-region") == "和布克赛尔镇 那仁和布克村"
    assert "654226" not in desk.text("#p-region")
    assert "和布克赛尔农村信用合作社" in desk.text(".resident-facts")
    desk.wait().until(lambda _: desk.has("#pen-monthly"))
    pension = desk.sql(
        "SELECT monthly_fen FROM pensions WHERE person_id = :p", p=desk.pensioner.person_id
    )[0][0]
    assert desk.text("#pen-monthly") == f"{pension // 100:,}.{pension % 100:02d} 元"
    screenshot(desk.browser, "desk-workspace-pensioner")


def test_find_by_id_number_and_by_name_keyboard_only(desk: Desk) -> None:
    desk.login(CLERK)
    person_id_number = _id_number_of(desk, desk.rare_id)
    # The ID number field has the focus after log-in: type, Enter.
    desk.wait().until(
        lambda _: desk.browser.switch_to.active_element.get_attribute("name") == "id_number"
    )
    desk.press(person_id_number[:17] + "0" if person_id_number[17] != "0" else "1", Keys.ENTER)
    assert "校验位错误" in desk.text('#find-id .field-error[data-for="id_number"]')
    field = desk.el("#find-id input[name=id_number]")
    field.clear()
    field.send_keys(person_id_number, Keys.ENTER)
    desk.wait().until(lambda _: desk.has("#p-name") and desk.text("#p-name") == RARE_NAME)
    screenshot(desk.browser, "desk-workspace-rare-name")

    # By name, narrowed by birth year: a table with masked ID numbers; Enter opens a row.
    desk.el("#nav a[href='#/find']").click()
    desk.wait().until(lambda _: desk.has("#find-name"))
    desk.el("#find-name input[name=name]").send_keys("𠮷")
    desk.el("#find-name input[name=birth_year]").send_keys("1980", Keys.ENTER)
    desk.wait().until(lambda _: desk.has("#find-results tbody tr"))
    row = desk.text("#find-results tbody tr")
    assert RARE_NAME in row and person_id_number not in row
    assert f"{person_id_number[:6]}********{person_id_number[-4:]}" in row
    screenshot(desk.browser, "desk-find-by-name")
    desk.press(Keys.ENTER)
    desk.wait().until(lambda _: desk.has("#p-name") and desk.text("#p-name") == RARE_NAME)


def _id_number_of(desk: Desk, person_id: int) -> str:
    answer = httpx.get(
        f"{desk.backend.url}/api/v1/persons/{person_id}", headers=_bearer(desk, CLERK)
    )
    return str(answer.json()["id_number"])


def _bearer(desk: Desk, username: str) -> dict[str, str]:
    answer = httpx.post(
        f"{desk.backend.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_collect_keyboard_only_with_printed_receipt(desk: Desk) -> None:
    desk.login(CLERK)
    desk.el("#find-id input[name=id_number]").send_keys(
        _id_number_of(desk, desk.rare_id), Keys.ENTER
    )
    desk.wait().until(lambda _: desk.has("#tab-collect"))
    desk.press(Keys.ALT, "2")
    desk.wait().until(lambda _: desk.has("#grades input[type=radio]"))
    # Year (this year) → hardship (none) → the grades: the third grade, Enter.
    desk.press(Keys.TAB)
    desk.press(Keys.TAB)
    desk.press(Keys.ARROW_RIGHT)
    desk.press(Keys.ARROW_RIGHT)
    chosen = desk.el("#grades input:checked").get_attribute("value")
    assert chosen == "30000"
    assert "补贴" in desk.text("#grades")
    assert desk.text("#collect-due") == "300.00 元"
    desk.press(Keys.ENTER)
    desk.wait(20).until(lambda _: "已打印" in desk.text(".receipt-line"))
    assert "已收取" in desk.message() and "300.00" in desk.message()
    screenshot(desk.browser, "desk-collected")

    rows = desk.sql(
        "SELECT c.id, c.amount_fen, c.receipt_no, c.operator_id FROM contribution_collections c "
        "JOIN contribution_assessments a ON a.id = c.assessment_id WHERE a.person_id = :p",
        p=desk.rare_id,
    )
    assert len(rows) == 1
    _, amount, receipt_no, _ = rows[0]
    assert amount == 30000 and receipt_no in desk.message()
    (receipt,) = desk.new_receipts(1)
    assert RARE_NAME in receipt.text or receipt.images, "the rare name printed (as an image)"
    check = desk.verify(receipt.qr_payloads[0])
    assert check["genuine"] is True
    assert check["claims"]["kind"] == "contribution" and check["claims"]["amount_fen"] == 30000


def test_make_up_year_with_its_cost(desk: Desk) -> None:
    desk.login(CLERK)
    desk.browser.get(f"{desk.backend.url}/desk/#/person/{desk.older_id}/collect")
    desk.wait().until(lambda _: desk.has("#grades input[type=radio]"))
    year = desk.el("#collect-form select[name=year]")
    year.send_keys(f"{THIS_YEAR - 2}")
    desk.wait().until(lambda _: "补缴年度不享受政府补贴" in desk.text("#grades"))
    assert "补贴 0.00" in desk.text("#grades")
    desk.el("#collect-submit").click()
    desk.wait(20).until(lambda _: "已打印" in desk.text(".receipt-line"))
    made_up = desk.sql(
        "SELECT is_make_up, paid_fen, government_subsidy_fen FROM contribution_assessments "
        "WHERE person_id = :p AND year = :y",
        p=desk.older_id,
        y=THIS_YEAR - 2,
    )
    assert made_up == [(True, 10000, 0)]
    desk.new_receipts(1)
    assert "补缴" in desk.text("#years")


def test_enrol_from_the_id_card_keyboard_only(desk: Desk) -> None:
    desk.login(CLERK)
    assert desk.agent.scanner_simulator is not None
    card = Pensioner.stranger_id_card(NEWCOMER_ID, "乌兰图雅", dt.date(1985, 6, 1))
    desk.agent.scanner_simulator.place(card)
    desk.press(Keys.F3)  # not registered: the enrolment form, filled from the card
    desk.wait(15).until(lambda _: desk.has("#enrol-form"))
    desk.wait().until(lambda _: desk.el("#enrol-form input[name=name]").get_attribute("value"))
    assert desk.el("#enrol-form input[name=id_number]").get_attribute("value") == NEWCOMER_ID
    desk.wait().until(lambda _: "符合参保条件" in desk.text("#enrol-checks"))
    assert "可以新登记" in desk.text("#enrol-checks")
    # The phone has the focus; then Tab to the village, household and relationship.
    desk.press("13800001234")
    desk.press(Keys.TAB)
    assert desk.browser.switch_to.active_element.get_attribute("name") == "hukou_region_code"
    desk.press(Keys.ARROW_DOWN)
    desk.press(Keys.TAB)
    desk.press("HBK-0071")
    desk.press(Keys.TAB)
    desk.press(Keys.ARROW_DOWN)
    screenshot(desk.browser, "desk-enrol-filled")
    desk.press(Keys.ENTER)
    desk.wait(15).until(lambda _: desk.has("#p-name") and desk.text("#p-name") == "乌兰图雅")
    assert "参保缴费" in desk.text("#p-enrolment")
    assert desk.text("#p-phone") == "13800001234"
    screenshot(desk.browser, "desk-enrolled")
    desk.agent.scanner_simulator.lift()
    assert "本人" in desk.text("#p-household")
    person_id = int(desk.browser.current_url.split("#/person/")[1].split("/")[0])
    person = httpx.get(
        f"{desk.backend.url}/api/v1/persons/{person_id}", headers=_bearer(desk, CLERK)
    ).json()
    assert (person["name"], person["id_number"], person["phone"]) == (
        "乌兰图雅",
        NEWCOMER_ID,
        "13800001234",
    )
    rows = desk.sql("SELECT status FROM enrolments WHERE person_id = :p", p=person_id)
    assert rows == [("paying",)]


def test_change_and_refund_pending_until_the_reviewer_decides(desk: Desk) -> None:
    desk.login(CLERK)
    desk.browser.get(f"{desk.backend.url}/desk/#/person/{desk.rare_id}/change")
    desk.wait().until(lambda _: desk.has("#change-form"))
    name = desk.el("#change-form input[name=name]")
    name.clear()
    name.send_keys("𠮷祥云")
    desk.el("#change-form input[name=reason]").send_keys("户口本更名", Keys.ENTER)
    desk.wait().until(lambda _: "待复核员审核" in desk.message())
    desk.wait().until(lambda _: desk.has("#p-pending"))
    assert "𠮷祥云" in desk.text("#p-pending") and desk.text("#p-name") == RARE_NAME
    screenshot(desk.browser, "desk-change-pending")

    desk.el("#tab-refund").click()
    desk.wait().until(lambda _: desk.has("#refund-form option[value]"))
    desk.el("#refund-form input[name=note]").send_keys("已参加职工养老保险")
    desk.el("#refund-submit").click()
    assert "待复核员审批" in desk.message()

    desk.login(REVIEWER)
    desk.press(Keys.F7)
    desk.wait().until(lambda _: desk.has("#inbox-list tbody tr"))
    rows = desk.browser.find_elements(By.CSS_SELECTOR, "#inbox-list tbody tr")
    kinds = {r.get_attribute("data-kind"): r for r in rows}
    assert set(kinds) == {"person_change", "refund"}
    change = kinds["person_change"]
    assert "李娜" in change.text and f"姓名：{RARE_NAME} → 𠮷祥云" in change.text
    screenshot(desk.browser, "desk-inbox")
    change.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("与户口本一致")
    change.find_element(By.CSS_SELECTOR, "button.primary").click()
    assert "已通过" in desk.message()
    refund = desk.browser.find_element(By.CSS_SELECTOR, "#inbox-list tbody tr[data-kind=refund]")
    refund.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("未提供职工参保证明")
    refund.find_element(By.CSS_SELECTOR, "button.danger").click()
    desk.wait().until(lambda _: "没有待复核的事项" in desk.text("#inbox-list"))
    assert "已驳回：退费申请" in desk.message() and "原因：未提供职工参保证明" in desk.message()
    decided = desk.sql(
        "SELECT c.status, c.maker_id <> c.checker_id FROM person_changes c WHERE c.person_id = :p "
        "AND c.field = 'name'",
        p=desk.rare_id,
    )
    assert decided == [("applied", True)]
    assert desk.sql(
        "SELECT status, rejection_reason FROM contribution_refunds r "
        "JOIN contribution_assessments a ON a.id = r.assessment_id WHERE a.person_id = :p",
        p=desk.rare_id,
    ) == [("rejected", "未提供职工参保证明")]
    # The clerk sees the decision and the reviewer's reason with the resident's refunds.
    desk.login(CLERK)
    desk.browser.get(f"{desk.backend.url}/desk/#/person/{desk.rare_id}/refund")
    desk.wait().until(lambda _: "未提供职工参保证明" in desk.text("#refund-history"))
    assert "已驳回" in desk.text("#refund-history")


def test_end_of_day_totals_reversal_and_sign_off(desk: Desk) -> None:
    desk.login(REVIEWER)
    desk.press(Keys.F9)
    desk.wait().until(lambda _: desk.has("#day-deposit"))
    collected = desk.sql(
        "SELECT COALESCE(SUM(amount_fen), 0), COUNT(*) FROM contribution_collections "
        "WHERE collected_on = :d",
        d=dt.date.today(),
    )[0]
    assert desk.text("#day-deposit") == f"{collected[0] // 100:,}.{collected[0] % 100:02d} 元"
    # Reverse the make-up collection (a reviewer, not the collector).
    line = next(
        r
        for r in desk.browser.find_elements(By.CSS_SELECTOR, "#day-body tbody tr")
        if "其木格" in r.text
    )
    line.find_element(By.CSS_SELECTOR, "button.danger").click()
    alert = desk.browser.switch_to.alert
    alert.send_keys("年度选错")
    alert.accept()
    desk.wait().until(lambda _: "已冲正" in desk.message())
    total = desk.sql(
        "SELECT SUM(amount_fen) FROM contribution_collections WHERE collected_on = :d",
        d=dt.date.today(),
    )[0][0]
    desk.wait().until(
        lambda _: desk.text("#day-deposit") == f"{total // 100:,}.{total % 100:02d} 元"
    )
    screenshot(desk.browser, "desk-day-close")
    desk.el("#day-sign").click()
    desk.wait().until(lambda _: "已日结签字" in desk.text("#day-status"))
    signed = desk.sql(
        "SELECT deposit_fen, collections_count, reversals_count FROM contribution_day_closes"
    )
    assert signed == [(total, collected[1], 1)]
    screenshot(desk.browser, "desk-day-signed")
    # The signed day's slip on the workstation's receipt printer, signed for the day close.
    desk.el("#day-slip-print").click()
    desk.wait().until(lambda _: "日结单已打印" in desk.text("#day-slip"))
    [slip] = desk.new_receipts()
    assert "柜面日结单" in slip.text
    assert f"应缴存现金合计：{total // 100:,}.{total % 100:02d}元" in slip.text
    check = desk.verify(slip.qr_payloads[0])
    assert check["genuine"] and check["claims"]["kind"] == "day_close"
    assert check["claims"]["amount_fen"] == total

    # The clerk can take no more cash today: said next to the job, in Chinese.
    desk.login(CLERK)
    desk.browser.get(f"{desk.backend.url}/desk/#/person/{desk.older_id}/collect")
    desk.wait().until(lambda _: desk.has("#grades input[type=radio]"))
    desk.el("#collect-form select[name=year]").send_keys(f"{THIS_YEAR - 3}")
    desk.wait().until(lambda _: "补缴年度" in desk.text("#grades"))
    desk.el("#collect-submit").click()
    assert "已日结签字" in desk.message()
    assert "day_closed" in desk.text(".view > .message .support")
    screenshot(desk.browser, "desk-day-closed-refusal")
