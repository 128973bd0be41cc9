"""Who may enrol (DOMAIN.md §2): pure rules over dated rule versions, no database.

The thresholds and dates live in ``data/enrolment_rules.toml``; each version holds
from its ``valid_from`` until the next one. ``check_eligibility`` returns every
reason a person may not enrol, each naming its rule, so staff see all at once.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

RULES_FILE = Path(__file__).resolve().parent / "data" / "enrolment_rules.toml"


class EligibilityFacts(Protocol):
    """What the rules look at; a stored person and validated person data both fit."""

    @property
    def birth_date(self) -> dt.date: ...

    @property
    def is_student(self) -> bool: ...

    @property
    def in_employee_scheme(self) -> bool: ...

    @property
    def is_civil_servant(self) -> bool: ...


@dataclass(frozen=True)
class RuleVersion:
    """One version of the enrolment rules, in force from ``valid_from``."""

    valid_from: dt.date
    source: str
    min_age: int
    exclude_full_time_students: bool
    exclude_employee_scheme: bool
    exclude_civil_servants: bool
    pension_age: int


@dataclass(frozen=True)
class RuleBook:
    """All versions of the enrolment rules, oldest first."""

    versions: tuple[RuleVersion, ...]

    def in_force(self, on_date: dt.date) -> RuleVersion | None:
        """The version that applies on ``on_date``, or None before the first one."""
        current = None
        for version in self.versions:
            if version.valid_from <= on_date:
                current = version
        return current


@dataclass(frozen=True)
class Reason:
    """Why a person may not enrol: the rule's stable name, the field it concerns, a message."""

    rule: str
    field: str
    message: str
    source: str | None = None


def parse_rules(text: str) -> RuleBook:
    """Read a rule book from TOML text; versions are sorted by ``valid_from``."""
    data = tomllib.loads(text)
    versions = []
    for raw in data.get("version", []):
        if not isinstance(raw.get("valid_from"), dt.date):
            raise ValueError("each enrolment rule version needs a date valid_from")
        versions.append(
            RuleVersion(
                valid_from=raw["valid_from"],
                source=str(raw["source"]),
                min_age=int(raw["min_age"]),
                exclude_full_time_students=bool(raw["exclude_full_time_students"]),
                exclude_employee_scheme=bool(raw["exclude_employee_scheme"]),
                exclude_civil_servants=bool(raw["exclude_civil_servants"]),
                pension_age=int(raw["pension_age"]),
            )
        )
    if not versions:
        raise ValueError("the enrolment rule book has no versions")
    return RuleBook(tuple(sorted(versions, key=lambda v: v.valid_from)))


@lru_cache
def load_rules(path: Path = RULES_FILE) -> RuleBook:
    """The rule book shipped with the backend (read once)."""
    return parse_rules(path.read_text(encoding="utf-8"))


def age_on(birth_date: dt.date, on_date: dt.date) -> int:
    """Whole years of age on ``on_date`` (someone born on 29 February turns a year on 1 March)."""
    before_birthday = (on_date.month, on_date.day) < (birth_date.month, birth_date.day)
    return on_date.year - birth_date.year - int(before_birthday)


def check_eligibility(person: EligibilityFacts, on_date: dt.date, rules: RuleBook) -> list[Reason]:
    """Every reason ``person`` may not enrol on ``on_date``; empty when eligible."""
    version = rules.in_force(on_date)
    if version is None:
        first = rules.versions[0].valid_from
        return [
            Reason(
                "scheme_not_in_force",
                "enrolled_on",
                f"参保日期{on_date}早于制度实施日期{first}",
            )
        ]
    reasons = []
    age = age_on(person.birth_date, on_date)
    if age < version.min_age:
        reasons.append(
            Reason(
                "min_age",
                "birth_date",
                f"参保日期{on_date}时年龄为{age}周岁，未满{version.min_age}周岁",
                version.source,
            )
        )
    if version.exclude_full_time_students and person.is_student:
        reasons.append(
            Reason(
                "full_time_student",
                "is_student",
                "在校学生不能参加城乡居民养老保险",
                version.source,
            )
        )
    if version.exclude_employee_scheme and person.in_employee_scheme:
        reasons.append(
            Reason(
                "employee_scheme",
                "in_employee_scheme",
                "已参加职工基本养老保险，不能参加城乡居民养老保险",
                version.source,
            )
        )
    if version.exclude_civil_servants and person.is_civil_servant:
        reasons.append(
            Reason(
                "civil_servant",
                "is_civil_servant",
                f"自{version.valid_from}起机关事业单位工作人员不能参加城乡居民养老保险",
                version.source,
            )
        )
    return reasons
