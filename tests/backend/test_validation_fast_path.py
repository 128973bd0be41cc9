"""The fast path of ``validate_person`` gives the same answer as the rules in full."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.orgs import service as orgs
from backend.registry.validation import _checked_person, _fast_person, validate_person
from backend.seed.generator import ResidentGenerator, villages_from_file
from national_codes.id_number import make_id_number

TODAY = dt.date(2026, 1, 1)
VILLAGES = {"654226200200", "654226101001"}


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """Valid numbers, and the near misses the fast path must leave to the full rules."""
    birth = draw(st.dates(min_value=dt.date(1870, 1, 1), max_value=dt.date(2030, 12, 31)))
    region = draw(st.sampled_from(["654226", "110101"]))
    valid = make_id_number(region, birth, draw(st.integers(0, 999)))
    return draw(
        st.sampled_from(
            [
                valid,
                valid.lower(),
                f" {valid} ",
                valid[:17] + ("0" if valid[17] != "0" else "1"),
                valid[:6] + "19700230" + valid[14:],
                valid[:17],
                valid[:-1] + "Ｘ",
                "١" + valid[1:],
            ]
        )
    )


def texts(*samples: str | None, alphabet: str) -> st.SearchStrategy[str | None]:
    """Typical values, or any text from an alphabet of awkward characters."""
    return st.one_of(st.sampled_from(samples), st.text(alphabet=alphabet, max_size=60))


names = texts(
    "张三",
    "阿依古丽·买买提",
    "Ivanov",
    "王 小明",
    "𠮷敏",
    "",
    None,
    # CJK (basic, Extension B, compatibility), joiners, Latin with combining marks, digits.
    alphabet="张王李巴特尔·•．𠀀𫚉豈ÅA\u030ae1<> \u3000\t",
)


@st.composite
def person_rows(draw: st.DrawFn) -> dict[str, str | None]:
    """A canonical row (as a township file has it) with up to three fields made odd."""
    id_number = draw(id_numbers())
    digits = id_number.strip()[6:14]
    iso = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    gender = "1" if id_number.strip()[16:17] in tuple("13579") else "2"
    row: dict[str, str | None] = {
        "id_number": id_number,
        "name": "阿依古丽·买买提",
        "gender": gender,
        "birth_date": iso,
        "ethnicity": "05",
        "hukou_region_code": "654226200200",
        "address": "某村1组",
        "phone": "13912345678",
        "household_number": "65422620020000001",
        "relationship_code": "02",
        "is_student": "0",
        "in_employee_scheme": "0",
        "is_civil_servant": "1",
    }
    odd_values: dict[str, st.SearchStrategy[str | None]] = {
        "name": names,
        "gender": st.sampled_from([None, "", " 1", "1", "2", "3"]),
        "birth_date": st.sampled_from([None, "", digits, f" {iso}", "1970-1-1", "1970-02-30"]),
        "ethnicity": st.sampled_from([None, "", "1", " 01", "17", "57", "99", "001"]),
        "hukou_region_code": st.sampled_from(["654226101001", "654226200999", " 654226200200"]),
        "address": st.sampled_from([None, "", "  ", "村" * 200, "村" * 201]),
        "phone": st.sampled_from([None, "", "+86-139-1234", "abc", " 1391234567 "]),
        "household_number": st.sampled_from([None, "", "户1", "a" * 33, " a-1 "]),
        "relationship_code": st.sampled_from([None, "", "12", " 02", "33"]),
        "is_student": st.sampled_from([None, "", "1", "是", "TRUE", " 1", "2"]),
        "in_employee_scheme": st.sampled_from([None, "1", "否", "maybe"]),
        "is_civil_servant": st.sampled_from([None, "0", "y", "no"]),
    }
    for field in draw(st.sets(st.sampled_from(sorted(odd_values)), max_size=3)):
        row[field] = draw(odd_values[field])
    return row


@settings(max_examples=500)
@given(person_rows(), st.sampled_from([None, VILLAGES]))
def test_validate_person_answers_exactly_as_the_full_rules(person_row, villages):
    expected = _checked_person(person_row, known_villages=villages, today=TODAY)
    assert validate_person(person_row, known_villages=villages, today=TODAY) == expected
    fast = _fast_person(person_row, villages, TODAY)
    assert fast is None or expected == (fast, [])


def test_seeded_residents_take_the_fast_path():
    villages = villages_from_file(orgs.DATA_DIR / "regions_654226.csv", "654226")
    generator = ResidentGenerator(county="654226", villages=villages, seed=3)
    rows = [resident.row for resident in generator.residents(2000)]
    fast = [row for row in rows if _fast_person(row, None, TODAY) is not None]
    # Names with characters outside GBK's CJK range (𠮷) are left to the full check.
    assert len(fast) >= 0.99 * len(rows)
    for row in fast:
        assert validate_person(row, today=TODAY) == _checked_person(
            row, known_villages=None, today=TODAY
        )
