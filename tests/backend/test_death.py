"""Death lists, counter reports, maker-checker confirmation, recovery, inheritance, grant."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.accounts.models import AccountEntry
from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.benefits import death
from backend.benefits.models import Pension
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.registry.models import Enrolment, Person
from tests.backend.benefits_support import add_candidate, three_pensioners
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import build_and_approve, pay_month
from tests.conftest import World


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    """Three pensioners paid from 2026-06; the third has almost nothing in the account."""
    return three_pensioners(world, session_factory)


def _death_list(tmp_path: Path, session_factory, rows: dict[int, str]) -> Path:
    with unit_of_work(session_factory) as s:
        lines = ["身份证号,姓名,死亡日期"] + [
            f"{s.get_one(Person, pid).id_number},{s.get_one(Person, pid).name},{day}"
            for pid, day in rows.items()
        ]
    path = tmp_path / "deaths.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _balance(session_factory, person_id: int) -> int:
    with unit_of_work(session_factory) as s:
        from backend.benefits.service import account_balance

        return account_balance(session=s, person_id=person_id)[1]


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_death_list_suspends_at_once_and_confirmation_settles_the_account(
    world: World, pensioners, session_factory, tmp_path: Path
):
    dead, alive, _ = pensioners
    pay_month(world, session_factory, "2026-06", tmp_path)
    pay_month(world, session_factory, "2026-07", tmp_path)
    path = _death_list(tmp_path, session_factory, {dead: "2026-06-10"})
    with unit_of_work(session_factory) as s:
        result = death.import_death_list(
            session=s, path=path, source="public_security", actor=Actor.system("t")
        )
    assert (result.rows, result.matched, result.opened) == (1, 1, 1)
    with unit_of_work(session_factory) as s:
        again = death.import_death_list(
            session=s, path=path, source="public_security", actor=Actor.system("t")
        )
        assert again.already_imported
        pension = s.scalar(select(Pension).where(Pension.person_id == dead))
        assert pension is not None and pension.status_code == "death_match"

    r = world.client.get(
        "/api/v1/benefits/deaths", params={"status": "pending"}, headers=world.headers("clerk_xzg")
    )
    [case] = r.json()
    # July was paid after the death in June: 308.00 overpaid (basic 208.00, account 100.00).
    assert case["overpaid_fen"] == 30800
    august = build_and_approve(world, session_factory, "2026-08")
    r = world.client.get(
        f"/api/v1/payroll/payrolls/{august}/exclusions", headers=world.headers("clerk_county")
    )
    assert [x["reason_code"] for x in r.json()] == ["death_match"]

    r = world.client.post(
        f"/api/v1/benefits/deaths/{case['id']}/confirm",
        json={"heir_name": "巴雅尔", "heir_id_number": "654226198001010011"},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 200, r.text
    settled = r.json()
    # Balance after two draws: 13 900.00 − 2 × 100.00 = 13 700.00; the basic part paid
    # after death (208.00) comes back from it, the rest goes to the heirs (2014 rule);
    # funeral grant: 13 × (143.00 + 35.00).
    assert settled["recovered_fen"] == 20800 and settled["receivable_fen"] == 0
    assert settled["inherited_fen"] == 1_370_000 - 20800
    assert settled["retained_fen"] == 0
    assert settled["funeral_grant_fen"] == 13 * 17800
    assert _balance(session_factory, dead) == 0
    assert _balance(session_factory, alive) == 1_390_000 - 2 * 10000
    with unit_of_work(session_factory) as s:
        pension = s.scalar(select(Pension).where(Pension.person_id == dead))
        assert pension is not None
        assert (pension.status, pension.end_month) == ("terminated", dt.date(2026, 6, 1))
        enrolment = s.scalar(select(Enrolment).where(Enrolment.person_id == dead))
        assert enrolment is not None and enrolment.status == "terminated"
    _books_ok(session_factory)


def test_overpayment_beyond_the_balance_is_owed_by_the_heirs(
    world: World, pensioners, session_factory, tmp_path: Path
):
    poor = pensioners[2]
    pay_month(world, session_factory, "2026-06", tmp_path)
    pay_month(world, session_factory, "2026-07", tmp_path)
    r = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": poor, "died_on": "2026-06-20"},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    balance = _balance(session_factory, poor)
    r = world.client.post(
        f"/api/v1/benefits/deaths/{case_id}/confirm", json={}, headers=world.headers("reviewer_xzg")
    )
    settled = r.json()
    basic_overpaid = 14300 + 3500 + 3000
    assert settled["recovered_fen"] == balance
    assert settled["receivable_fen"] == basic_overpaid - balance
    assert settled["inherited_fen"] == 0
    _books_ok(session_factory)


def test_2009_rule_keeps_the_subsidy_part_in_the_fund(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=67)
    r = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": person_id, "died_on": "2013-05-01"},
        headers=world.headers("clerk_xzg"),
    )
    case_id = r.json()["id"]
    own = world.client.post(
        f"/api/v1/benefits/deaths/{case_id}/confirm", json={}, headers=world.headers("clerk_xzg")
    )
    assert own.status_code == 403
    settled = world.client.post(
        f"/api/v1/benefits/deaths/{case_id}/confirm", json={}, headers=world.headers("reviewer_xzg")
    ).json()
    assert (settled["inherited_fen"], settled["retained_fen"]) == (1_000_000, 390_000)
    assert settled["funeral_grant_fen"] == 0
    with unit_of_work(session_factory) as s:
        total = s.scalar(
            select(func.sum(AccountEntry.amount_fen)).where(AccountEntry.ref_type == "death_case")
        )
        assert total == -1_390_000
    _books_ok(session_factory)


def test_a_counter_report_keeps_its_evidence_with_the_record(
    world: World, pensioners, session_factory
):
    evidence = {
        "kind": "death_certificate",
        "number": "M6542262026001",
        "reported_by": "阿依古丽",
        "relationship": "女儿",
    }
    bad = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": pensioners[0], "died_on": "2026-05-02", "evidence": {"kind": "rumour"}},
        headers=world.headers("clerk_xzg"),
    )
    assert bad.status_code == 422
    r = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": pensioners[0], "died_on": "2026-05-02", "evidence": evidence},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    with unit_of_work(session_factory) as s:
        (detail,) = s.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "death.report")
        ).all()
    assert json.loads(detail)["evidence"] == evidence
    # The checker sees the document in the inbox, next to the date and the source.
    (item,) = [
        i
        for i in world.client.get("/api/v1/inbox", headers=world.headers("reviewer_xzg")).json()[
            "items"
        ]
        if i["kind"] == "death"
    ]
    shown = {c["field"]: c["after"] for c in item["changes"]}
    assert shown == {
        "died_on": "2026-05-02",
        "death_source": "counter",
        "evidence_kind": "death_certificate",
        "evidence_number": "M6542262026001",
        "reported_by": "阿依古丽",
        "relationship": "女儿",
    }


def test_a_death_report_is_rejected_only_with_a_reason_and_payment_resumes(
    world: World, pensioners, session_factory
):
    alive = pensioners[1]
    case_id = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": alive, "died_on": "2026-06-20"},
        headers=world.headers("clerk_xzg"),
    ).json()["id"]
    [item] = [
        i
        for i in world.client.get("/api/v1/inbox", headers=world.headers("reviewer_xzg")).json()[
            "items"
        ]
        if i["kind"] == "death"
    ]
    assert (item["id"], item["reject_reason_field"]) == (case_id, "reason")
    url = f"/api/v1/benefits/deaths/{case_id}/reject"
    refused = world.client.post(url, json={}, headers=world.headers("reviewer_xzg"))
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(Pension.status).where(Pension.person_id == alive)) != "receiving"
    rejected = world.client.post(
        url, json={"reason": "本人到柜面，确认健在"}, headers=world.headers("reviewer_xzg")
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
        "rejected",
        "本人到柜面，确认健在",
    )
    [shown] = world.client.get(
        "/api/v1/benefits/deaths", params={"status": "rejected"}, headers=world.headers("clerk_xzg")
    ).json()
    assert (shown["id"], shown["rejection_reason"]) == (case_id, "本人到柜面，确认健在")
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(Pension.status).where(Pension.person_id == alive)) == "receiving"
        [detail] = s.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "death.reject")
        ).all()
    assert json.loads(detail)["reason"] == "本人到柜面，确认健在"
