"""Citizen ID numbers (GB 11643-1999): check character, birth date and gender.

Pure functions; the edge of every entry point calls ``parse_id_number`` (the backend
through ``backend.registry.validation``, the ID card scanner on every card it reads).
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# Weighting the ASCII codes instead of the digits adds ord("0") times the sum of the
# weights; subtracting it back avoids an int() per digit (bulk imports check millions).
_ZERO_WEIGHT = ord("0") * sum(_WEIGHTS)


class IdNumberError(ValueError):
    """The ID number is malformed; the message says why in the staff's language."""


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character citizen ID number and what it encodes."""

    value: str
    region_code: str
    birth_date: dt.date
    gender: str  # GB/T 2261.1: "1" male, "2" female

    def __str__(self) -> str:
        return self.value


def check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if not (len(first17) == 17 and first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(map(operator.mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_WEIGHT
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate an ID number; raise ``IdNumberError`` naming the first fault found."""
    value = raw.strip().upper()
    if len(value) != 18:
        raise IdNumberError(f"身份证号码应为18位，实际为{len(value)}位")
    if not value[:17].isascii() or not value[:17].isdigit():
        raise IdNumberError("身份证号码前17位必须是数字")
    if not (value[17].isdigit() or value[17] == "X"):
        raise IdNumberError("身份证号码校验位必须是数字或X")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise IdNumberError(f"身份证号码中的出生日期{value[6:14]}不存在") from exc
    today = today or dt.date.today()
    if birth > today or birth.year < 1880:
        raise IdNumberError(f"身份证号码中的出生日期{value[6:14]}不合理")
    expected = check_character(value[:17])
    if value[17] != expected:
        raise IdNumberError(f"身份证号码校验位错误（应为{expected}）")
    gender = "1" if int(value[16]) % 2 == 1 else "2"
    return IdNumber(value=value, region_code=value[:6], birth_date=birth, gender=gender)


def make_id_number(region6: str, birth: dt.date, sequence: int) -> str:
    """Build a valid ID number (used by the synthetic province and tests)."""
    if not (0 <= sequence <= 999):
        raise ValueError("sequence must be 0..999")
    first17 = f"{region6}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
