"""Double pensions: the employee agency's pensioner list, suspension, confirmation, recovery."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.benefits.models import Pension
from backend.benefits.service import account_balance
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.ledger import service as ledger
from backend.registry import matching
from backend.registry.models import Enrolment, Person
from backend.transfers import double_pension
from backend.transfers.models import PersonList
from tests.backend.benefits_support import three_pensioners
from tests.backend.money_world import id_number
from tests.backend.payroll_support import build_and_approve, pay_month
from tests.conftest import World

AGENCY = "新疆维吾尔自治区社会保险管理局"
BASIC_FEN = 14300 + 3500 + 3000  # minimum, county top-up, 15 years' bonus


@pytest.fixture
def pensioners(world: World, session_factory, tmp_path: Path) -> list[int]:
    """Three pensioners paid for 2026-06 and 2026-07; the third has almost no balance."""
    ids = three_pensioners(world, session_factory)
    pay_month(world, session_factory, "2026-06", tmp_path)
    pay_month(world, session_factory, "2026-07", tmp_path)
    return ids


def _list(tmp_path: Path, session_factory, rows: dict[int, str], extra: str = "") -> Path:
    with unit_of_work(session_factory) as s:
        lines = ["身份证号,姓名,职工养老金起始月,参保单位"] + [
            f"{s.get_one(Person, pid).id_number},{s.get_one(Person, pid).name},{month},某厂"
            for pid, month in rows.items()
        ]
    path = tmp_path / "employee_pensioners.csv"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def _import(session_factory, path: Path) -> matching.ListResult:
    with unit_of_work(session_factory) as s:
        return double_pension.import_employee_pensioners(
            session=s, path=path, agency=AGENCY, actor=Actor.system("t")
        )


def _cases(world: World, user: str = "reviewer_xzg") -> dict[int, dict[str, object]]:
    r = world.client.get(
        "/api/v1/transfers/double-pensions",
        params={"status": "pending"},
        headers=world.headers(user),
    )
    assert r.status_code == 200, r.text
    return {c["person_id"]: c for c in r.json()}


def _decide(world: World, case_id: object, verb: str, user: str = "reviewer_xzg", key=None):
    return world.client.post(
        f"/api/v1/transfers/double-pensions/{case_id}/{verb}",
        json={"decided_on": "2026-11-20", "reason": "核实未领取职工养老金"},
        headers=world.headers(user, key=key),
    )


def _pension(session_factory, person_id: int) -> Pension:
    with unit_of_work(session_factory) as s:
        pension = s.scalar(select(Pension).where(Pension.person_id == person_id))
        assert pension is not None
        s.expunge(pension)
        return pension


def account_balance_of(session_factory, person_id: int) -> int:
    """The whole account balance of a person."""
    with unit_of_work(session_factory) as s:
        return account_balance(session=s, person_id=person_id)[1]


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_double_pension_is_suspended_then_ended_recovered_and_sent_on(
    world: World, pensioners, session_factory, tmp_path: Path
):
    rich, alive, poor = pensioners
    stranger = id_number("654226", dt.date(1950, 1, 1), 999)
    path = _list(
        tmp_path, session_factory, {rich: "2026-07", poor: "202606"}, f"{stranger},某人,2020-01\n"
    )
    result = _import(session_factory, path)
    assert (result.rows, result.matched, result.opened) == (3, 2, 2)
    assert _import(session_factory, path).already_imported
    cases = _cases(world)
    assert set(cases) == {rich, poor}
    assert cases[rich]["overpaid_fen"] == BASIC_FEN  # July paid by both schemes
    assert cases[poor]["overpaid_fen"] == 2 * BASIC_FEN
    assert _pension(session_factory, rich).status_code == "double_pension"
    august = build_and_approve(world, session_factory, "2026-08")
    r = world.client.get(
        f"/api/v1/payroll/payrolls/{august}/exclusions", headers=world.headers("clerk_county")
    )
    assert sorted(x["reason_code"] for x in r.json()) == ["double_pension", "double_pension"]

    balance = account_balance_of(session_factory, rich)
    key = "confirm-rich"
    done = _decide(world, cases[rich]["id"], "confirm", key=key)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["recovered_fen"], body["receivable_fen"]) == (
        "confirmed",
        BASIC_FEN,
        0,
    )
    assert body["transferred_fen"] == balance - BASIC_FEN
    assert _decide(world, cases[rich]["id"], "confirm", key=key).json() == body
    assert _decide(world, cases[rich]["id"], "confirm").json()["code"] == (
        "double_pension_case_decided"
    )
    pension = _pension(session_factory, rich)
    assert (pension.status, pension.end_month) == ("terminated", dt.date(2026, 6, 1))
    assert account_balance_of(session_factory, rich) == 0
    with unit_of_work(session_factory) as s:
        enrolment = s.scalar(select(Enrolment).where(Enrolment.person_id == rich))
        assert enrolment is not None and enrolment.status == "terminated"
    owed = world.client.get(
        "/api/v1/benefits/overpayments",
        params={"person_id": rich},
        headers=world.headers("clerk_xzg"),
    ).json()
    assert [(o["cause"], o["status"], o["recovered_fen"]) for o in owed] == [
        ("double_pension", "settled", BASIC_FEN)
    ]

    poor_balance = account_balance_of(session_factory, poor)
    settled = _decide(world, cases[poor]["id"], "confirm").json()
    assert settled["recovered_fen"] == poor_balance
    assert settled["receivable_fen"] == 2 * BASIC_FEN - poor_balance
    assert settled["transferred_fen"] == 0
    [debt] = world.client.get(
        "/api/v1/benefits/overpayments",
        params={"person_id": poor},
        headers=world.headers("clerk_xzg"),
    ).json()
    assert (debt["debtor"], debt["method"], debt["status"]) == ("pensioner", "instalments", "open")
    repaid = world.client.post(
        f"/api/v1/benefits/overpayments/{debt['id']}/repayments",
        json={"amount_fen": settled["receivable_fen"], "receipt_no": "DP1"},
        headers=world.headers("clerk_xzg"),
    )
    assert repaid.status_code == 201, repaid.text
    assert _pension(session_factory, alive).status == "receiving"
    _books_ok(session_factory)


def test_rejected_case_resumes_payment_and_cases_are_scoped(
    world: World, pensioners, session_factory, tmp_path: Path
):
    rich = pensioners[0]
    _import(session_factory, _list(tmp_path, session_factory, {rich: "2026-07"}))
    case_id = _cases(world)[rich]["id"]
    assert (
        world.client.get(
            f"/api/v1/transfers/double-pensions/{case_id}", headers=world.headers("reviewer_hbk")
        ).status_code
        == 404
    )
    assert _decide(world, case_id, "reject", user="reviewer_hbk").status_code == 404
    assert _decide(world, case_id, "confirm", user="clerk_xzg").status_code == 403
    no_reason = world.client.post(
        f"/api/v1/transfers/double-pensions/{case_id}/reject",
        json={"decided_on": "2026-11-20"},
        headers=world.headers("reviewer_xzg"),
    )
    assert no_reason.status_code == 422
    assert [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    [item] = world.client.get("/api/v1/inbox", headers=world.headers("reviewer_xzg")).json()[
        "items"
    ]
    assert (item["kind"], item["reject_reason_field"]) == ("double_pension", "reason")
    r = _decide(world, case_id, "reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["rejection_reason"] == "核实未领取职工养老金"
    assert _pension(session_factory, rich).status == "receiving"
    with unit_of_work(session_factory) as s:
        [detail] = s.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "double_pension.reject")
        ).all()
    assert json.loads(detail)["reason"] == "核实未领取职工养老金"
    _books_ok(session_factory)


def test_a_list_with_bad_rows_is_rejected_whole_field_by_field(
    world: World, pensioners, session_factory, tmp_path: Path
):
    rich, alive, _ = pensioners
    good = id_number("654226", dt.date(1950, 1, 1), 998)
    wrong_check = good[:17] + ("1" if good[17] == "0" else "0")
    path = _list(
        tmp_path,
        session_factory,
        {rich: "2026-07", alive: "2026-13"},
        f"{wrong_check},某人,2026-07\n",
    )
    with pytest.raises(InvalidInput) as caught:
        _import(session_factory, path)
    fields = {(e.field, e.code) for e in caught.value.fields}
    assert fields == {
        ("line 3: 职工养老金起始月", "bad_date"),
        ("line 4: 身份证号", "bad_id_number"),
    }
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(PersonList.id)) is None
    assert _pension(session_factory, rich).status == "receiving"
    with unit_of_work(session_factory) as s:
        result = double_pension.import_employee_pensioners(
            session=s, path=path, agency=AGENCY, actor=Actor.system("t"), accept_valid=True
        )
    assert (result.rows, result.rejected_rows, result.opened) == (3, 2, 1)


def test_a_pension_ended_by_death_meanwhile_is_not_ended_again(
    world: World, pensioners, session_factory, tmp_path: Path
):
    rich = pensioners[0]
    _import(session_factory, _list(tmp_path, session_factory, {rich: "2026-07"}))
    case_id = _cases(world)[rich]["id"]
    died = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": rich, "died_on": "2026-07-20"},
        headers=world.headers("clerk_xzg"),
    )
    assert died.status_code == 201, died.text
    confirmed = world.client.post(
        f"/api/v1/benefits/deaths/{died.json()['id']}/confirm",
        json={},
        headers=world.headers("reviewer_xzg"),
    )
    assert confirmed.status_code == 200, confirmed.text
    refused = _decide(world, case_id, "confirm")
    assert refused.status_code == 409 and refused.json()["code"] == "pension_already_ended"
    assert _decide(world, case_id, "reject").status_code == 200
    assert _pension(session_factory, rich).status_code == "death"
    _books_ok(session_factory)


def test_cli_imports_the_list_once_and_shows_errors_by_line(
    world: World, pensioners, session_factory, database_url, tmp_path: Path, monkeypatch
):
    from typer.testing import CliRunner

    from backend.config import get_settings
    from xnb.cli import app

    rich = pensioners[0]
    path = _list(tmp_path, session_factory, {rich: "2026-07"})
    bad = tmp_path / "bad.csv"
    bad.write_text("身份证号,姓名,职工养老金起始月\n123,某人,2026-07\n", encoding="utf-8")
    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    command = ["pension", "import-employee-pensioners", "--agency", AGENCY]
    try:
        refused = runner.invoke(app, [*command, str(bad)])
        assert refused.exit_code == 2 and "line 2: 身份证号" in refused.output
        first = runner.invoke(app, [*command, str(path)])
        assert first.exit_code == 0, first.output
        assert "匹配领取人员 1 人，新立案 1 件" in first.output
        again = runner.invoke(app, [*command, str(path)])
        assert again.exit_code == 0 and "已导入过" in again.output
    finally:
        get_settings.cache_clear()
    assert _pension(session_factory, rich).status_code == "double_pension"
