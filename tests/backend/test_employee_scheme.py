"""衔接 with the employee scheme: years, overlap refunds, balance in and out, books intact."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from backend.accounts.models import Account, AccountEntry
from backend.benefits.service import contribution_years
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.registry.models import Enrolment, EnrolmentEvent
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import load_basics
from tests.conftest import World

AGENCY = "乌鲁木齐市社会保险管理局"
THIS_YEAR = dt.date.today().year


def _post(world: World, path: str, body: dict[str, object], user: str = "clerk_xzg", key=None):
    return world.client.post(
        f"/api/v1/transfers/employee-scheme/{path}",
        json=body,
        headers=world.headers(user, key=key),
    )


def _years(world: World, person_id: int, years: list[int], user: str = "clerk_xzg"):
    return _post(world, "years", {"person_id": person_id, "agency": AGENCY, "years": years}, user)


def _approve_refunds(world: World, refund_ids: list[int]) -> None:
    for refund_id in refund_ids:
        r = world.client.post(
            f"/api/v1/contributions/refunds/{refund_id}/approve",
            headers=world.headers("reviewer_xzg"),
        )
        assert r.status_code == 200, r.text


def _sources(session_factory, person_id: int) -> dict[str, int]:
    with unit_of_work(session_factory) as s:
        return {
            source: int(total)
            for source, total in s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen))
                .join(Account, Account.id == AccountEntry.account_id)
                .where(Account.person_id == person_id)
                .group_by(AccountEntry.source)
            )
        }


def _years_counted(session_factory, person_id: int) -> int:
    with unit_of_work(session_factory) as s:
        return contribution_years(session=s, person_id=person_id)


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


@pytest.fixture
def contributor(world: World, session_factory) -> int:
    """A contributor of 夏孜盖乡, born 1975: 2010–2021 settled (13 900.00), this year paid."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=91, years=12, birth=dt.date(1975, 3, 1))
    assessed = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": THIS_YEAR, "grade_fen": 50000},
        headers=world.headers("clerk_xzg"),
    )
    assert assessed.status_code == 201, assessed.text
    paid = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessed.json()["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert paid.status_code == 201, paid.text
    return person_id


def test_employee_balance_moves_in_once_and_its_years_count(
    world: World, contributor, session_factory
):
    assert _years_counted(session_factory, contributor) == 13
    r = _years(world, contributor, [2020, 2024, 2025, THIS_YEAR])
    assert r.status_code == 201, r.text
    recorded = r.json()
    assert recorded["years"] == [2020, 2024, 2025, THIS_YEAR]
    assert recorded["overlap_years"] == [2020, THIS_YEAR]
    assert len(recorded["refund_ids"]) == 2
    again = _years(world, contributor, [2020, 2024])
    assert again.status_code == 201 and again.json()["refund_ids"] == []  # asked once

    moved = _post(world, "in", {"person_id": contributor, "balance_fen": 800_000})
    assert moved.status_code == 201, moved.text
    assert (moved.json()["balance_fen"], moved.json()["employee_years"]) == (800_000, 4)
    # 2010–2021 and this year, plus 2024 and 2025 from the employee scheme; overlaps once.
    assert _years_counted(session_factory, contributor) == 15

    _approve_refunds(world, recorded["refund_ids"])
    sources = _sources(session_factory, contributor)
    # Own payments of 2020 (100.00) and this year (500.00) back to the person; this year's
    # subsidy (65.00) back to the fund; the overlapping years still count, as employee years.
    assert sources["refund"] == -60_000
    assert sources["government_subsidy"] == 390_000
    assert sources["transfer_in"] == 800_000
    assert _years_counted(session_factory, contributor) == 15
    assert _years(world, contributor, [2020]).json()["refund_ids"] == []  # refunded once

    twice = _post(world, "in", {"person_id": contributor, "balance_fen": 800_000})
    assert twice.status_code == 409 and twice.json()["code"] == "already_transferred_in"
    _books_ok(session_factory)


def test_fifteen_employee_years_do_not_move_in(world: World, contributor):
    assert _years(world, contributor, list(range(1995, 2010))).status_code == 201
    r = _post(world, "in", {"person_id": contributor, "balance_fen": 1})
    assert r.status_code == 409 and r.json()["code"] == "employee_years_enough"
    bad = _post(world, "in", {"person_id": contributor, "balance_fen": -1})
    assert bad.status_code == 422


def test_residents_balance_moves_to_the_employee_scheme_once_after_overlaps_are_refunded(
    world: World, contributor, session_factory
):
    recorded = _years(world, contributor, list(range(2000, 2015))).json()
    assert recorded["overlap_years"] == [2010, 2011, 2012, 2013, 2014]
    refused = _post(world, "out", {"person_id": contributor})
    assert refused.status_code == 409 and refused.json()["code"] == "overlap_not_refunded"
    _approve_refunds(world, recorded["refund_ids"])

    key, out = "employee-out-1", {"person_id": contributor, "transferred_on": "2026-11-02"}
    moved = _post(world, "out", out, key=key)
    assert moved.status_code == 201, moved.text
    body = moved.json()
    assert (body["kind"], body["to_agency"], body["to_county"]) == ("employee_scheme", AGENCY, None)
    # 13 900.00 + this year's 565.00 − five overlap years' own 100.00 each.
    assert body["balance_fen"] == 1_390_000 + 56_500 - 50_000
    replay = _post(world, "out", out, key=key)
    assert replay.json() == body
    assert all(v == 0 for v in _sources(session_factory, contributor).values())
    with unit_of_work(session_factory) as s:
        enrolment = s.scalar(select(Enrolment).where(Enrolment.person_id == contributor))
        assert enrolment is not None and enrolment.status == "terminated"
        reason = s.scalar(
            select(EnrolmentEvent.reason)
            .where(EnrolmentEvent.enrolment_id == enrolment.id)
            .order_by(EnrolmentEvent.id.desc())
            .limit(1)
        )
        assert reason == f"转入职工基本养老保险（{AGENCY}）"
    again = _post(world, "out", {"person_id": contributor})
    assert again.status_code == 409 and again.json()["code"] == "not_enrolled"
    _books_ok(session_factory)


def test_too_few_employee_years_or_receiving_do_not_move_out(
    world: World, contributor, session_factory
):
    _years(world, contributor, [2000, 2001])
    short = _post(world, "out", {"person_id": contributor})
    assert short.status_code == 409 and short.json()["code"] == "employee_years_short"
    with unit_of_work(session_factory) as s:
        pensioner = add_candidate(s, sequence=93)
    award(world, pensioner)
    _years(world, pensioner, list(range(1990, 2005)))
    receiving = _post(world, "out", {"person_id": pensioner})
    assert receiving.status_code == 409 and receiving.json()["code"] == "already_receiving"


def test_years_are_checked_field_by_field_and_scoped(world: World, contributor):
    r = _years(world, contributor, [1900, 2001, 2001])
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"years[0]", "years[2]"}
    assert _years(world, contributor, [2001], user="clerk_emin").status_code == 404
    assert _post(world, "in", {"person_id": contributor, "balance_fen": 0}).json()["code"] == (
        "no_employee_years"
    )
