"""The synthetic province: deterministic, valid and consistent residents; loading is idempotent."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.orgs import service as orgs
from backend.registry.eligibility import age_on, check_eligibility, load_rules
from backend.registry.models import Enrolment, EnrolmentEvent, Household, Person
from backend.registry.validation import validate_person
from backend.seed.generator import AS_OF, ResidentGenerator, SeedResident, villages_from_file
from backend.seed.names import KAZAKH, MONGOL, UYGHUR
from backend.seed.service import seed_residents
from national_codes.id_number import parse_id_number

VILLAGES = villages_from_file(orgs.DATA_DIR / "regions_654226.csv", "654226")


def generate(count: int, seed: int) -> list[SeedResident]:
    return list(ResidentGenerator(county="654226", villages=VILLAGES, seed=seed).residents(count))


@pytest.fixture(scope="module")
def sample() -> list[SeedResident]:
    """Five thousand residents of seed 42."""
    return generate(5000, 42)


def test_same_seed_gives_the_same_people_and_another_seed_other_people(sample):
    again = generate(5000, 42)
    assert [r.row for r in again] == [r.row for r in sample]
    other = {r.row["id_number"] for r in generate(5000, 43)}
    assert len(other & {r.row["id_number"] for r in sample}) < 50


def test_every_resident_passes_the_one_validation_path_with_unique_id_numbers(sample):
    known = {v.code for v in VILLAGES}
    ids = set()
    for resident in sample:
        person, errors = validate_person(resident.row, known_villages=known, today=AS_OF)
        assert errors == [], resident.row
        assert person is not None
        parsed = parse_id_number(person.id_number, today=AS_OF)
        assert parsed.region_code == "654226" and parsed.gender == resident.row["gender"]
        ids.add(person.id_number)
    assert len(ids) == len(sample)


def test_ages_span_0_to_100_with_students_and_employees(sample):
    ages = [age_on(dt.date.fromisoformat(r.row["birth_date"]), AS_OF) for r in sample]
    assert min(ages) == 0 and max(ages) <= 100 and max(ages) >= 85
    youths = [r for r, a in zip(sample, ages, strict=True) if 16 <= a <= 22]
    student_share = sum(r.row["is_student"] == "1" for r in youths) / len(youths)
    assert 0.35 < student_share < 0.75
    assert 0.03 < sum(r.row["in_employee_scheme"] == "1" for r in sample) / len(sample) < 0.2


def test_households_share_a_village_have_one_head_and_1_to_6_members(sample):
    households = collections.defaultdict(list)
    for r in sample:
        households[r.row["household_number"]].append(r.row)
    # The last household may be cut short by the requested count; all others are whole.
    for members in households.values():
        assert 1 <= len(members) <= 6
        assert len({m["hukou_region_code"] for m in members}) == 1
        assert [m["relationship_code"] for m in members].count("02") == 1
        assert len({m["ethnicity"] for m in members}) == 1


def test_names_fit_the_ethnicity_and_rare_characters_occur():
    residents = generate(20000, 5)
    by_ethnicity = collections.defaultdict(list)
    for r in residents:
        by_ethnicity[r.row["ethnicity"]].append(r.row["name"])
    assert all("·" in name for name in by_ethnicity[KAZAKH] + by_ethnicity[UYGHUR])
    assert all("·" not in name for name in by_ethnicity[MONGOL])
    assert "巴特尔" in by_ethnicity[MONGOL] or "其其格" in by_ethnicity[MONGOL]
    assert any(ord(ch) > 0xFFFF for r in residents for ch in r.row["name"])


def test_seed_loads_residents_and_enrolments_once_however_often_it_runs(
    session_factory: sessionmaker[Session],
):
    with unit_of_work(session_factory) as s:
        first = seed_residents(
            session=s, county="654226", residents=600, seed=9, actor=Actor.system("seed")
        )
    assert first.imported == 600 and first.enrolled > 200
    with unit_of_work(session_factory) as s:
        second = seed_residents(
            session=s, county="654226", residents=600, seed=9, actor=Actor.system("seed")
        )
    assert (second.imported, second.already_present, second.enrolled) == (0, 600, 0)
    rules = load_rules()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 600
        assert s.scalar(select(func.count()).select_from(Household)) == first.households_created
        enrolments = s.scalars(select(Enrolment)).all()
        assert len(enrolments) == first.enrolled
        assert s.scalar(select(func.count()).select_from(EnrolmentEvent)) == first.enrolled
        for enrolment in enrolments:
            person = s.get(Person, enrolment.person_id)
            assert person is not None
            assert check_eligibility(person, enrolment.enrolled_on, rules) == []
            receiving = age_on(person.birth_date, AS_OF) >= 60
            assert enrolment.status == ("receiving" if receiving else "paying")
            assert enrolment.county_code == "654226"
        unlinked = s.scalar(
            select(func.count()).select_from(Person).where(Person.household_id.is_(None))
        )
        assert unlinked == 0
