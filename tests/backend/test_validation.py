"""``validate_person``: the one validation path for the API, the CSV import and seed."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.registry.codes import ETHNICITIES
from backend.registry.validation import validate_person
from national_codes.id_number import make_id_number

TODAY = dt.date(2026, 1, 1)
VILLAGE = "654226200200"
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)
# Names of letters from any script, including CJK Extension B (outside the BMP).
names = st.text(
    alphabet=st.sampled_from("张王李巴特尔阿依古丽买提𠀀𪚥𫚉䶮Ωщé"), min_size=1, max_size=50
)


def row(**overrides: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {
        "id_number": make_id_number("654226", dt.date(1970, 5, 1), 101),
        "name": "巴特尔",
        "ethnicity": "02",
        "hukou_region_code": VILLAGE,
    }
    base.update(overrides)
    return base


@given(births, sequences, names, st.sampled_from(sorted(ETHNICITIES)))
def test_valid_rows_validate_and_gender_and_birth_date_come_from_the_id(birth, seq, name, eth):
    id_number = make_id_number("654226", birth, seq)
    data, errors = validate_person(
        row(id_number=id_number, name=name, ethnicity=eth), known_villages={VILLAGE}, today=TODAY
    )
    assert errors == []
    assert data is not None
    assert data.birth_date == birth
    assert data.gender == ("1" if seq % 2 else "2")
    assert data.name == name
    assert data.county_code == "654226"


@given(births, sequences)
def test_a_given_birth_date_or_gender_must_agree_with_the_id(birth, seq):
    id_number = make_id_number("654226", birth, seq)
    other_day = birth - dt.timedelta(days=1)
    other_gender = "2" if seq % 2 else "1"
    data, errors = validate_person(
        row(id_number=id_number, birth_date=other_day.isoformat(), gender=other_gender),
        today=TODAY,
    )
    assert data is None
    assert {e.code for e in errors} == {"birth_date_mismatch", "gender_mismatch"}


@given(births, sequences)
def test_agreeing_birth_date_in_either_format_is_accepted(birth, seq):
    id_number = make_id_number("654226", birth, seq)
    for text in (birth.isoformat(), f"{birth:%Y%m%d}"):
        data, errors = validate_person(row(id_number=id_number, birth_date=text), today=TODAY)
        assert errors == [] and data is not None


def test_every_fault_of_a_row_is_reported_at_once_naming_its_field():
    data, errors = validate_person(
        row(
            id_number="654226197005011019",
            name="",
            ethnicity="77",
            hukou_region_code="6542",
            phone="abc",
            address="村" * 201,
            is_student="maybe",
            relationship_code="33",
            birth_date="1970-02-30",
        ),
        today=TODAY,
    )
    assert data is None
    assert {e.field for e in errors} == {
        "id_number",
        "name",
        "ethnicity",
        "hukou_region_code",
        "phone",
        "address",
        "is_student",
        "relationship_code",
        "birth_date",
    }


def test_unknown_village_is_refused():
    _, errors = validate_person(
        row(hukou_region_code="654226200999"), known_villages={VILLAGE}, today=TODAY
    )
    assert [(e.field, e.code) for e in errors] == [("hukou_region_code", "unknown_region")]


@pytest.mark.parametrize("name", ["阿依古丽·买买提", "𠀀𠀁", "Ивanov", "王 小明"])
def test_names_of_any_script_and_minority_joiners_are_accepted(name):
    data, errors = validate_person(row(name=name), today=TODAY)
    assert errors == [] and data is not None and data.name == name


@pytest.mark.parametrize("name", ["张三1", "李<script>", "x" * 51])
def test_names_with_digits_markup_or_over_50_characters_are_refused(name):
    _, errors = validate_person(row(name=name), today=TODAY)
    assert [e.field for e in errors] == ["name"]
