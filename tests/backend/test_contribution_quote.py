"""The counter's preview of a year: every grade with its cost and subsidy, computed by the
assessment's own rules and refused as the assessment would be."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.db import unit_of_work
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

THIS_YEAR = dt.date.today().year


@pytest.fixture
def people(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        young = add_resident(s, sequence=11, birth=dt.date(1990, 3, 1))
        older = add_resident(s, sequence=13, birth=dt.date(THIS_YEAR - 52, 1, 1), name="其木格")
        return {"young": young.id, "older": older.id}


def _quote(world: World, person_id: int, year: int, **extra):
    return world.client.get(
        "/api/v1/contributions/quote",
        params={"person_id": person_id, "year": year, **extra},
        headers=world.headers("clerk_xzg"),
    )


def test_quote_equals_what_the_assessment_records(world: World, people):
    r = _quote(world, people["young"], THIS_YEAR)
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["make_up"] is False
    by_grade = {o["grade_fen"]: o for o in quote["options"]}
    assert by_grade[50000]["government_subsidy_fen"] == 6500  # Hoboksar: grade 500 → 65 yuan
    assessed = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": people["young"], "year": THIS_YEAR, "grade_fen": 50000},
        headers=world.headers("clerk_xzg"),
    ).json()
    assert assessed["own_due_fen"] == by_grade[50000]["own_due_fen"]
    assert assessed["government_subsidy_fen"] == by_grade[50000]["government_subsidy_fen"]
    assert assessed["policy_version_id"] == quote["policy_version_id"]
    # Assessed now: the preview refuses like the assessment would.
    again = _quote(world, people["young"], THIS_YEAR)
    assert again.status_code == 409 and again.json()["code"] == "already_assessed"


def test_make_up_and_hardship_previews(world: World, people):
    make_up = _quote(world, people["older"], THIS_YEAR - 3).json()
    assert make_up["make_up"] is True
    assert all(o["government_subsidy_fen"] == 0 for o in make_up["options"])
    too_young = _quote(world, people["young"], THIS_YEAR - 3)
    assert too_young.status_code == 422
    assert too_young.json()["errors"][0]["field"] == "year"
    groups = _quote(world, people["young"], THIS_YEAR).json()["hardship_groups"]
    assert groups, "the shipped policy has hardship groups"
    hardship = _quote(world, people["young"], THIS_YEAR, hardship_group=groups[0]["code"]).json()
    lowest = hardship["options"][0]
    assert lowest["hardship_paid_fen"] > 0
    assert lowest["own_due_fen"] == lowest["grade_fen"] - lowest["hardship_paid_fen"]
