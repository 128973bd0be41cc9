"""End of day (日结): each clerk's cash, reversals, receipts and the deposit; signed off by
the office's reviewer, after which no collection or reversal is dated into the day."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from backend.contributions.models import Collection, DayClose
from backend.db import unit_of_work
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

THIS_YEAR = dt.date.today().year
TODAY = dt.date.today().isoformat()


@pytest.fixture
def people(world: World, session_factory):
    """Two residents of 夏孜盖乡; the second old enough to make up past years."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        young = add_resident(s, sequence=11, birth=dt.date(1990, 3, 1))
        older = add_resident(s, sequence=13, birth=dt.date(THIS_YEAR - 52, 1, 1), name="其木格")
        return {"young": young.id, "older": older.id}


def _collect(world: World, user: str, person_id: int, year: int, grade_fen: int) -> dict:
    assessed = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": year, "grade_fen": grade_fen},
        headers=world.headers(user),
    )
    assert assessed.status_code == 201, assessed.text
    collected = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessed.json()["id"]},
        headers=world.headers(user),
    )
    assert collected.status_code == 201, collected.text
    return collected.json()


def _day(world: World, user: str) -> dict:
    r = world.client.get(
        "/api/v1/contributions/day-close",
        params={"business_date": TODAY},
        headers=world.headers(user),
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_day_totals_equal_the_collections_and_the_signed_day_is_closed(
    world: World, people, session_factory
):
    current = _collect(world, "clerk_xzg", people["young"], THIS_YEAR, 50000)
    make_up = _collect(world, "clerk_xzg", people["older"], THIS_YEAR - 1, 20000)
    wrong = _collect(world, "clerk_xzg", people["older"], THIS_YEAR, 30000)
    reversed_ = world.client.post(
        f"/api/v1/contributions/collections/{wrong['id']}/reversal",
        json={"reason": "档次选错"},
        headers=world.headers("reviewer_xzg"),
    )
    assert reversed_.status_code == 201, reversed_.text

    day = _day(world, "clerk_xzg")
    assert day["office_name"] == "夏孜盖乡社保所"
    (clerk,) = day["clerks"]  # the reversal counts against the collector's drawer
    assert clerk["operator_id"] == world.operator_ids["clerk_xzg"]
    kinds = {k["kind"]: (k["count"], k["amount_fen"]) for k in clerk["by_kind"]}
    assert kinds == {"current": (2, 80000), "make_up": (1, 20000)}
    assert (clerk["collections_count"], clerk["collected_fen"]) == (3, 100000)
    assert (clerk["reversals_count"], clerk["reversed_fen"]) == (1, 30000)
    assert (clerk["receipts_issued"], clerk["receipts_voided"]) == (3, 1)
    assert clerk["deposit_fen"] == 70000
    assert day["deposit_fen"] == 70000 == current["amount_fen"] + make_up["amount_fen"]
    with unit_of_work(session_factory) as s:
        in_books = sum(s.scalars(select(Collection.amount_fen)))
    assert day["deposit_fen"] == in_books
    lines = {line["receipt_no"]: line for line in day["lines"]}
    assert lines[wrong["receipt_no"]]["reversed_by_id"] == reversed_.json()["id"]
    assert lines[make_up["receipt_no"]]["kind"] == "make_up"
    assert lines[current["receipt_no"]]["person_name"] == "巴特尔"
    assert day["closed"] is None
    # Another office sees nothing of this one's day.
    assert _day(world, "clerk_hbk")["clerks"] == []

    # The clerk cannot sign; the reviewer can, once.
    body = {"business_date": TODAY}
    refused = world.client.post(
        "/api/v1/contributions/day-close", json=body, headers=world.headers("clerk_xzg")
    )
    assert refused.status_code == 403
    signed = world.client.post(
        "/api/v1/contributions/day-close", json=body, headers=world.headers("reviewer_xzg")
    )
    assert signed.status_code == 201, signed.text
    closed = signed.json()["closed"]
    assert (closed["collections_count"], closed["collected_fen"]) == (3, 100000)
    assert (closed["reversals_count"], closed["reversed_fen"], closed["deposit_fen"]) == (
        1,
        30000,
        70000,
    )
    assert signed.json()["signed_by_name"] == "reviewer_xzg"
    again = world.client.post(
        "/api/v1/contributions/day-close", json=body, headers=world.headers("reviewer_xzg")
    )
    assert again.status_code == 409 and again.json()["code"] == "day_already_closed"

    # Nothing more can be dated into the closed day: no collection, no reversal.
    assessed = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": people["older"], "year": THIS_YEAR - 2, "grade_fen": 20000},
        headers=world.headers("clerk_xzg"),
    )
    assert assessed.status_code == 201, assessed.text
    late = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessed.json()["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert late.status_code == 409 and late.json()["code"] == "day_closed"
    late_reversal = world.client.post(
        f"/api/v1/contributions/collections/{current['id']}/reversal",
        json={"reason": "收错人"},
        headers=world.headers("reviewer_xzg"),
    )
    assert late_reversal.status_code == 409 and late_reversal.json()["code"] == "day_closed"
    with unit_of_work(session_factory) as s:
        assert len(list(s.scalars(select(Collection)))) == 4
        (row,) = s.scalars(select(DayClose))
        assert row.deposit_fen == 70000
    # Another office's day stays open.
    other = _collect_hbk(world, session_factory)
    assert other["amount_fen"] == 10000


def _collect_hbk(world: World, session_factory) -> dict:
    with unit_of_work(session_factory) as s:
        person = add_resident(s, sequence=21, village="654226100200", name="乌云")
        person_id = person.id
    return _collect(world, "clerk_hbk", person_id, THIS_YEAR, 10000)


def test_future_day_cannot_be_signed(world: World, people):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    r = world.client.post(
        "/api/v1/contributions/day-close",
        json={"business_date": tomorrow},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "business_date"
