"""GB 11643 ID numbers: the check character, dates, and the backend's re-export."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from national_codes import IdNumberError, check_character, make_id_number, parse_id_number


def test_published_example_has_check_character_x() -> None:
    assert check_character("11010519491231002") == "X"
    parsed = parse_id_number("11010519491231002x")
    assert parsed.value == "11010519491231002X"
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == "2"


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_made_numbers_parse_and_any_changed_check_character_is_refused(
    birth: dt.date, sequence: int
) -> None:
    number = make_id_number("654226", birth, sequence)
    assert parse_id_number(number).birth_date == birth
    wrong = next(c for c in "0123456789X" if c != number[17])
    with pytest.raises(IdNumberError, match="校验位"):
        parse_id_number(number[:17] + wrong)
