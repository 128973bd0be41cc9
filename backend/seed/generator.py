"""Deterministic generation of a county's residents, household by household.

Everything comes from one ``random.Random(seed)`` and a fixed reference date, so the
same seed gives the same people on any day and any machine. ID numbers are valid and
unique: each birth date hands out its 3-digit sequence numbers in order (odd for men,
even for women), starting at an offset that depends on the seed.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.orgs.permissions import level_of
from backend.seed import names as n
from national_codes.id_number import make_id_number

AS_OF = dt.date(2025, 7, 1)
"""The reference date of generated ages (fixed, so that a seed means the same people)."""

CSV_COLUMNS = (
    "id_number",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "hukou_region_code",
    "address",
    "phone",
    "household_number",
    "relationship_code",
    "is_student",
    "in_employee_scheme",
    "is_civil_servant",
)
# Household sizes 1..6 with rural Xinjiang's typical weights.
_SIZES = (1, 2, 3, 4, 5, 6)
_SIZE_WEIGHTS = (0.12, 0.22, 0.26, 0.22, 0.12, 0.06)
# GB/T 4761 relationships to the head.
HEAD, HUSBAND, WIFE, SON, DAUGHTER, GRANDCHILD, FATHER, MOTHER = (
    "02",
    "11",
    "12",
    "20",
    "30",
    "40",
    "51",
    "52",
)


@dataclass(frozen=True)
class Village:
    """A village of the region tree that residents are registered in."""

    code: str
    name: str


@dataclass(frozen=True)
class SeedResident:
    """One generated resident: the CSV row, and the date they enrolled (None: not enrolled)."""

    row: dict[str, str]
    enrolled_on: dt.date | None


def villages_from_file(path: Path, county: str) -> list[Village]:
    """The villages of ``county`` in a region data file (as loaded by ``xnb orgs load``)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return [
            Village(r["code"], r["name"])
            for r in rows
            if r["code"].startswith(county) and level_of(r["code"]) == 5
        ]


class _IdNumbers:
    """Hands out unique ID numbers per birth date, with the gender's parity."""

    def __init__(self, county: str, offset: int) -> None:
        self.county = county
        self.offset = offset
        self.used: dict[tuple[dt.date, int], int] = {}

    def next(self, birth: dt.date, male: bool) -> tuple[str, dt.date]:
        """A new ID number; moves to the next day when a birth date is exhausted."""
        parity = 1 if male else 0
        while True:
            taken = self.used.get((birth, parity), 0)
            if taken < 500:
                self.used[birth, parity] = taken + 1
                sequence = (self.offset + 2 * taken) % 1000 // 2 * 2 + parity
                return make_id_number(self.county, birth, sequence), birth
            birth += dt.timedelta(days=1)


class ResidentGenerator:
    """Generates the residents of one county from a seed (iterate ``residents``)."""

    def __init__(
        self,
        *,
        county: str,
        villages: Sequence[Village],
        seed: int,
        as_of: dt.date = AS_OF,
        scheme_start: dt.date = dt.date(2010, 7, 1),
    ) -> None:
        if not villages:
            raise ValueError(f"no villages under county {county}")
        self.rng = random.Random(seed)
        self.county = county
        self.villages = list(villages)
        self.as_of = as_of
        self.scheme_start = scheme_start
        self.ids = _IdNumbers(county, offset=seed * 97 % 1000)
        self.household_numbers: dict[str, itertools.count[int]] = {}
        self._ethnic_cum = list(itertools.accumulate(w for _, w in n.ETHNIC_MIX))

    def residents(self, count: int) -> Iterator[SeedResident]:
        """Exactly ``count`` residents, household after household."""
        produced = 0
        while produced < count:
            for resident in self._household():
                yield resident
                produced += 1
                if produced == count:
                    return

    def _ethnicity(self) -> str:
        index = bisect.bisect(self._ethnic_cum, self.rng.random() * self._ethnic_cum[-1])
        return n.ETHNIC_MIX[min(index, len(n.ETHNIC_MIX) - 1)][0]

    def _birth(self, age: int) -> dt.date:
        # A birthday somewhere in the year before the reference date's age boundary.
        days = age * 365 + self.rng.randrange(365)
        return max(self.as_of - dt.timedelta(days=days), dt.date(self.as_of.year - 100, 1, 1))

    def _given(self, ethnicity: str, male: bool) -> str:
        pool = n.MALE_GIVEN if male else n.FEMALE_GIVEN
        return self.rng.choice(pool[ethnicity])

    def _name(self, ethnicity: str, male: bool, family: str, father_given: str) -> str:
        given = self._given(ethnicity, male)
        while given == father_given:  # a son is not named after his own father
            given = self._given(ethnicity, male)
        if ethnicity in n.PATRONYMIC:
            return f"{given}·{father_given}"
        if ethnicity in n.WITH_SURNAME:
            return family + given
        return given

    def _surname(self, ethnicity: str) -> str:
        if ethnicity not in n.WITH_SURNAME:
            return ""
        if ethnicity == n.HAN and self.rng.random() < n.RARE_SURNAME_SHARE:
            return n.RARE_SURNAME
        return self.rng.choice(n.SURNAMES[ethnicity])

    def _household(self) -> list[SeedResident]:
        rng = self.rng
        village = rng.choice(self.villages)
        counter = self.household_numbers.setdefault(village.code, itertools.count(1))
        number = f"{village.code}{next(counter):05d}"
        address = f"{village.name}{rng.randint(1, 9)}组{rng.randint(1, 120)}号"
        size = rng.choices(_SIZES, _SIZE_WEIGHTS)[0]
        ethnicity = self._ethnicity()
        family = self._surname(ethnicity)
        head_age = rng.randint(22, 85) if size > 1 else rng.randint(18, 95)
        head_male = rng.random() < 0.8
        # Grandfather's given name: the head's patronymic, when the head is a man.
        grandfather = self._given(ethnicity, True)
        head_name = self._name(ethnicity, head_male, family, grandfather)
        head_given = head_name.split("·")[0].removeprefix(family)
        members = [(HEAD, head_age, head_male, head_name)]
        if size >= 2:
            spouse_age = max(18, head_age + rng.randint(-6, 6))
            spouse_family = self._surname(ethnicity)
            spouse_name = self._name(
                ethnicity, not head_male, spouse_family, self._given(ethnicity, True)
            )
            members.append((WIFE if head_male else HUSBAND, spouse_age, not head_male, spouse_name))
        father_given = head_given if head_male else self._given(ethnicity, True)
        mother_age = head_age if not head_male else members[-1][1] if size >= 2 else head_age
        for _ in range(max(0, size - 2)):
            if head_age >= 62 and rng.random() < 0.3:
                relation, age = GRANDCHILD, rng.randint(0, max(0, head_age - 45))
            elif (
                head_age <= 45
                and rng.random() < 0.15
                and not any(m[0] in (FATHER, MOTHER) for m in members)
            ):
                parent_male = rng.random() < 0.4
                relation = FATHER if parent_male else MOTHER
                age = min(100, head_age + rng.randint(22, 35))
                parent = self._name(ethnicity, parent_male, family, self._given(ethnicity, True))
                members.append((relation, age, parent_male, parent))
                continue
            else:
                relation, age = SON, rng.randint(max(0, mother_age - 42), max(0, mother_age - 18))
            male = rng.random() < 0.51
            if relation == SON and not male:
                relation = DAUGHTER
            members.append((relation, age, male, self._name(ethnicity, male, family, father_given)))
        return [self._resident(village, number, address, ethnicity, *member) for member in members]

    def _resident(
        self,
        village: Village,
        household_number: str,
        address: str,
        ethnicity: str,
        relation: str,
        age: int,
        male: bool,
        name: str,
    ) -> SeedResident:
        rng = self.rng
        id_number, birth = self.ids.next(self._birth(age), male)
        student = (6 <= age <= 15) or (16 <= age <= 22 and rng.random() < 0.55)
        employee = 18 <= age <= 59 and not student and rng.random() < 0.12
        civil_servant = employee and rng.random() < 0.15
        adult = age >= 18
        row = {
            "id_number": id_number,
            "name": name,
            "gender": "1" if male else "2",
            "ethnicity": ethnicity,
            "birth_date": birth.isoformat(),
            "hukou_region_code": village.code,
            "address": address,
            "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}" if adult else "",
            "household_number": household_number,
            "relationship_code": relation,
            "is_student": "1" if student else "0",
            "in_employee_scheme": "1" if employee else "0",
            "is_civil_servant": "1" if civil_servant else "0",
        }
        return SeedResident(row, self._enrolment_date(birth, age))

    def _enrolment_date(self, birth: dt.date, age: int) -> dt.date | None:
        """When this resident chose to enrol (most adults do); eligibility is checked later."""
        if age < 16 or self.rng.random() > 0.88:
            return None
        sixteenth = dt.date(birth.year + 16, birth.month, 28 if birth.day > 28 else birth.day)
        earliest = max(self.scheme_start, sixteenth)
        if earliest >= self.as_of:
            return None
        span = (self.as_of - earliest).days
        return earliest + dt.timedelta(days=self.rng.randrange(max(1, min(span, 3 * 365))))


def write_csv(path: Path, residents: Iterator[SeedResident], *, encoding: str = "utf-8") -> int:
    """Write residents as an import file (English header); returns the row count."""
    count = 0
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for resident in residents:
            writer.writerow([resident.row[c] for c in CSV_COLUMNS])
            count += 1
    return count
