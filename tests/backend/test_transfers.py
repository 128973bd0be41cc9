"""Transfers between counties and out of the province: whole balance, once, books intact."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from backend.accounts.models import AccountEntry
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.registry.models import Enrolment, Person
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import EMIN_VILLAGE, load_basics
from tests.conftest import World


@pytest.fixture
def contributor(world: World, session_factory) -> int:
    """A contributor of 夏孜盖乡 (15 years, 13 900.00 yuan) whose register moved to 额敏县."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=81, years=12)
        s.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(hukou_region_code=EMIN_VILLAGE, county_code=EMIN_VILLAGE[:6])
        )
    return person_id


def _transfer(world: World, person_id: int, user: str = "clerk_emin", **body: object):
    return world.client.post(
        "/api/v1/transfers",
        json={"person_id": person_id, "transferred_on": "2026-11-01", **body},
        headers=world.headers(user),
    )


def _by_county(session_factory) -> dict[str, int]:
    with unit_of_work(session_factory) as s:
        return {
            county: int(total)
            for county, total in s.execute(
                select(AccountEntry.county_code, func.sum(AccountEntry.amount_fen)).group_by(
                    AccountEntry.county_code
                )
            )
        }


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_county_transfer_moves_the_whole_balance_and_years_once(
    world: World, contributor, session_factory
):
    r = _transfer(world, contributor)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["from_county"], body["to_county"]) == ("county", "654226", "654221")
    assert (body["balance_fen"], body["contribution_years"]) == (1_390_000, 12)
    assert _by_county(session_factory) == {"654226": 0, "654221": 1_390_000}
    with unit_of_work(session_factory) as s:
        statuses = sorted(
            (e.county_code, e.status)
            for e in s.scalars(select(Enrolment).where(Enrolment.person_id == contributor))
        )
    assert statuses == [("654221", "paying"), ("654226", "terminated")]
    _books_ok(session_factory)
    again = _transfer(world, contributor)
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "same_county"


def test_out_of_province_transfer_sends_the_balance_away(
    world: World, contributor, session_factory
):
    with unit_of_work(session_factory) as s:
        s.execute(
            update(Person)
            .where(Person.id == contributor)
            .values(hukou_region_code="654226200200", county_code="654226")
        )
    r = _transfer(world, contributor, user="clerk_xzg", to_agency="甘肃省社会保险事业管理局")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "out_of_province" and r.json()["to_enrolment_id"] is None
    assert _by_county(session_factory) == {"654226": 0}
    _books_ok(session_factory)
    assert _transfer(world, contributor, user="clerk_xzg", to_agency="x").status_code == 409


def test_people_receiving_do_not_transfer(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=83)
    award(world, person_id)
    r = _transfer(world, person_id, user="clerk_xzg", to_agency="甘肃省社会保险事业管理局")
    assert r.status_code == 409 and r.json()["code"] == "already_receiving"
