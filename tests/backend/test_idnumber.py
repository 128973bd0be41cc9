"""GB 11643 citizen ID numbers: check character, birth date, gender (property tests)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from national_codes.id_number import (
    IdNumberError,
    check_character,
    make_id_number,
    parse_id_number,
)

TODAY = dt.date(2026, 1, 1)
regions = st.from_regex(r"[1-6][0-9]{5}", fullmatch=True)
births = st.dates(min_value=dt.date(1880, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@given(regions, births, sequences)
def test_any_17_digits_with_a_real_birth_date_and_the_computed_check_parse(region, birth, seq):
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    parsed = parse_id_number(first17 + check_character(first17), today=TODAY)
    assert parsed.value == first17 + check_character(first17)
    assert parsed.birth_date == birth
    assert parsed.region_code == region


@given(regions, births, sequences)
def test_gender_is_the_parity_of_the_17th_digit(region, birth, seq):
    parsed = parse_id_number(make_id_number(region, birth, seq), today=TODAY)
    assert parsed.gender == ("1" if seq % 2 == 1 else "2")


@given(regions, births, sequences, st.data())
def test_any_single_character_change_is_rejected(region, birth, seq, data):
    valid = make_id_number(region, birth, seq)
    position = data.draw(st.integers(min_value=0, max_value=17))
    replacement = data.draw(st.sampled_from("0123456789X").filter(lambda c: c != valid[position]))
    changed = valid[:position] + replacement + valid[position + 1 :]
    with pytest.raises(IdNumberError):
        parse_id_number(changed, today=TODAY)


@given(regions, births, sequences)
def test_lower_case_x_and_surrounding_spaces_are_accepted(region, birth, seq):
    valid = make_id_number(region, birth, seq)
    assert parse_id_number(f"  {valid.lower()} ", today=TODAY).value == valid


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("65422619700501101", "18位"),
        ("6542261970050110１8", "前17位"),
        ("65422619700230101X", "不存在"),
        ("654226203001011011", "不合理"),
        ("654226197005011019", "校验位"),
        ("65422619700501101Y", "校验位"),
    ],
)
def test_each_fault_is_named_in_chinese(raw, words):
    with pytest.raises(IdNumberError, match=words):
        parse_id_number(raw, today=TODAY)


def test_known_valid_number_parses():
    parsed = parse_id_number("11010519491231002X", today=TODAY)
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == "2"
