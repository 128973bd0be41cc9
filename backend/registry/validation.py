"""Validation of personal data at the edge: one function for the API, the CSV import and seed.

``validate_person`` takes raw strings (as a form or a CSV row has them) and returns
either clean ``PersonData`` or the list of field errors, never both.

A bulk import validates millions of rows, nearly all clean and in canonical form, so
``validate_person`` first tries ``_fast_person``: the same rules, checked only for
values already in the canonical form (all-CJK names, ``0``/``1`` flags, two-digit
codes), which never builds an error. Anything it is not sure of goes to
``_checked_person``, the rules in full with their messages; the tests hold the two
to the same answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from backend.errors import FieldError
from backend.registry.codes import ETHNICITIES, RELATIONSHIPS
from national_codes.id_number import IdNumberError, check_character, parse_id_number

MAX_NAME_CHARS = 50
MAX_ADDRESS_CHARS = 200
_PHONE = re.compile(r"^\+?[0-9][0-9-]{5,18}[0-9]$")
_HOUSEHOLD_NUMBER = re.compile(r"^[0-9A-Za-z-]{1,32}$")
_NAME_JOINERS = {"·", "•", "．"}  # minority names: 阿依古丽·买买提
_TRUE = {"1", "true", "yes", "y", "是", "t"}
_FALSE = {"", "0", "false", "no", "n", "否", "f"}

# The fast path's canonical forms. CJK Unified Ideographs U+4E00–U+9FA5 (GBK's range)
# are letters (Lo), unchanged by NFC and encodable in GB18030, as are ASCII letters and
# the middle dot; any other name takes the full check.
_FAST_NAME = re.compile(f"[\u4e00-\u9fa5A-Za-z·]{{1,{MAX_NAME_CHARS}}}")
_FAST_ETHNICITY = {
    **{code: code for code in ETHNICITIES},
    **{c.lstrip("0"): c for c in ETHNICITIES},
}
_FAST_FLAG: dict[str | None, bool] = {None: False, "": False, "0": False, "1": True}


@dataclass(frozen=True)
class PersonData:
    """A person's validated data, ready to store."""

    id_number: str
    name: str
    gender: str
    ethnicity: str
    birth_date: dt.date
    hukou_region_code: str
    address: str | None = None
    phone: str | None = None
    is_student: bool = False
    in_employee_scheme: bool = False
    is_civil_servant: bool = False
    household_number: str | None = None
    relationship_code: str | None = None

    @property
    def county_code(self) -> str:
        """The 6-digit county of the household register."""
        return self.hukou_region_code[:6]


def validate_name(raw: str) -> str:
    """A name of 1–50 characters: letters of any script (GB18030, rare ones included) and ·."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise ValueError("姓名不能为空")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"姓名不能超过{MAX_NAME_CHARS}个字符")
    for ch in name:
        if ch in _NAME_JOINERS or ch == " ":
            continue
        if not unicodedata.category(ch).startswith("L"):
            raise ValueError(f"姓名含有不允许的字符“{ch}”(U+{ord(ch):04X})")
    try:
        name.encode("gb18030")
    except UnicodeEncodeError as exc:
        raise ValueError("姓名含有 GB18030 无法表示的字符") from exc
    return name


def _flag(raw: str | None, field: str, errors: list[FieldError]) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        errors.append(FieldError(field, f"应为是/否（1/0），实际为“{raw}”", "invalid_flag"))
    return False


def _optional(raw: str | None) -> str | None:
    value = (raw or "").strip()
    return value or None


def validate_person(
    row: Mapping[str, str | None],
    *,
    known_villages: set[str] | None = None,
    today: dt.date | None = None,
) -> tuple[PersonData | None, list[FieldError]]:
    """Validate raw person fields; gender and birth date are derived from the ID and cross-checked.

    ``known_villages``: when given, the household-register code must be one of them.
    """
    person = _fast_person(row, known_villages, today or dt.date.today())
    if person is not None:
        return person, []
    return _checked_person(row, known_villages=known_villages, today=today)


@functools.lru_cache(maxsize=1 << 16)
def _id_birth_date(digits: str) -> dt.date | None:
    """The date of an ID number's YYYYMMDD digits, None if there is no such day."""
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _fast_person(
    row: Mapping[str, str | None], known_villages: set[str] | None, today: dt.date
) -> PersonData | None:
    """The rules of ``_checked_person`` for canonical values; None when a value is not."""
    get = row.get
    id_number = (get("id_number") or "").strip()
    first17 = id_number[:17]
    if not (len(id_number) == 18 and first17.isascii() and first17.isdigit()):
        return None
    birth = _id_birth_date(id_number[6:14])
    if birth is None or birth > today or birth.year < 1880:
        return None
    if id_number[17] != check_character(first17):
        return None
    gender = "1" if id_number[16] in "13579" else "2"
    if (get("gender") or "").strip() not in ("", gender):
        return None
    birth_raw = (get("birth_date") or "").strip()
    if birth_raw and birth_raw != id_number[6:14] and birth_raw != birth.isoformat():
        return None
    name = (get("name") or "").strip()
    if not _FAST_NAME.fullmatch(name):
        return None
    ethnicity = _FAST_ETHNICITY.get(get("ethnicity") or "")
    region = (get("hukou_region_code") or "").strip()
    if (
        ethnicity is None
        or not (len(region) == 12 and region.isascii() and region.isdigit())
        or (known_villages is not None and region not in known_villages)
    ):
        return None
    address = _optional(get("address"))
    phone = _optional(get("phone"))
    household = _optional(get("household_number"))
    relation = _optional(get("relationship_code"))
    if (
        (address and len(address) > MAX_ADDRESS_CHARS)
        or (phone and not _PHONE.match(phone))
        or (household and not _HOUSEHOLD_NUMBER.match(household))
        or (relation and relation not in RELATIONSHIPS)
    ):
        return None
    is_student = _FAST_FLAG.get(get("is_student"))
    in_employee = _FAST_FLAG.get(get("in_employee_scheme"))
    civil_servant = _FAST_FLAG.get(get("is_civil_servant"))
    if is_student is None or in_employee is None or civil_servant is None:
        return None
    return PersonData(
        id_number=id_number,
        name=name,
        gender=gender,
        ethnicity=ethnicity,
        birth_date=birth,
        hukou_region_code=region,
        address=address,
        phone=phone,
        is_student=is_student,
        in_employee_scheme=in_employee,
        is_civil_servant=civil_servant,
        household_number=household,
        relationship_code=relation,
    )


def _checked_person(
    row: Mapping[str, str | None],
    *,
    known_villages: set[str] | None,
    today: dt.date | None,
) -> tuple[PersonData | None, list[FieldError]]:
    """Every rule in full, with a message per fault: the reference the fast path follows."""
    errors: list[FieldError] = []
    id_raw = (row.get("id_number") or "").strip()
    parsed = None
    try:
        parsed = parse_id_number(id_raw, today=today)
    except IdNumberError as exc:
        errors.append(FieldError("id_number", str(exc), "invalid_id_number"))

    name = ""
    try:
        name = validate_name(row.get("name") or "")
    except ValueError as exc:
        errors.append(FieldError("name", str(exc), "invalid_name"))

    gender_raw = (row.get("gender") or "").strip()
    if gender_raw and gender_raw not in ("1", "2"):
        errors.append(FieldError("gender", "性别代码应为1（男）或2（女）", "invalid_gender"))
    elif parsed and gender_raw and gender_raw != parsed.gender:
        errors.append(FieldError("gender", "性别与身份证号码第17位不符", "gender_mismatch"))

    birth_raw = (row.get("birth_date") or "").strip()
    if birth_raw:
        try:
            birth = dt.date.fromisoformat(
                birth_raw
                if "-" in birth_raw
                else f"{birth_raw[:4]}-{birth_raw[4:6]}-{birth_raw[6:8]}"
            )
        except ValueError:
            errors.append(
                FieldError("birth_date", f"出生日期“{birth_raw}”不是有效日期", "invalid_date")
            )
        else:
            if parsed and birth != parsed.birth_date:
                errors.append(
                    FieldError("birth_date", "出生日期与身份证号码不符", "birth_date_mismatch")
                )

    ethnicity = (row.get("ethnicity") or "").strip().zfill(2)
    if ethnicity not in ETHNICITIES:
        errors.append(
            FieldError(
                "ethnicity", f"民族代码“{row.get('ethnicity')}”不在 GB 3304 中", "invalid_ethnicity"
            )
        )

    region = (row.get("hukou_region_code") or "").strip()
    if not (len(region) == 12 and region.isascii() and region.isdigit()):
        errors.append(
            FieldError("hukou_region_code", "户籍地区划代码应为12位数字", "invalid_region_code")
        )
    elif known_villages is not None and region not in known_villages:
        errors.append(
            FieldError(
                "hukou_region_code", f"户籍地区划代码{region}不是已知的村（社区）", "unknown_region"
            )
        )

    address = _optional(row.get("address"))
    if address and len(address) > MAX_ADDRESS_CHARS:
        errors.append(FieldError("address", f"地址不能超过{MAX_ADDRESS_CHARS}个字符", "too_long"))
    phone = _optional(row.get("phone"))
    if phone and not _PHONE.match(phone):
        errors.append(FieldError("phone", f"电话号码“{phone}”格式不正确", "invalid_phone"))
    household = _optional(row.get("household_number"))
    if household and not _HOUSEHOLD_NUMBER.match(household):
        errors.append(
            FieldError(
                "household_number",
                "户号只能含字母、数字和连字符，最长32位",
                "invalid_household_number",
            )
        )
    relation = _optional(row.get("relationship_code"))
    if relation and relation not in RELATIONSHIPS:
        errors.append(
            FieldError(
                "relationship_code",
                f"与户主关系代码“{relation}”不在 GB/T 4761 中",
                "invalid_relationship",
            )
        )

    is_student = _flag(row.get("is_student"), "is_student", errors)
    in_employee = _flag(row.get("in_employee_scheme"), "in_employee_scheme", errors)
    civil_servant = _flag(row.get("is_civil_servant"), "is_civil_servant", errors)

    if errors or parsed is None:
        return None, errors
    return (
        PersonData(
            id_number=parsed.value,
            name=name,
            gender=parsed.gender,
            ethnicity=ethnicity,
            birth_date=parsed.birth_date,
            hukou_region_code=region,
            address=address,
            phone=phone,
            is_student=is_student,
            in_employee_scheme=in_employee,
            is_civil_servant=civil_servant,
            household_number=household,
            relationship_code=relation,
        ),
        [],
    )
