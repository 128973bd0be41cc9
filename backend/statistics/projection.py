"""The projection core: a cohort-component model of the scheme, as pure functions.

Cohorts are (sex, age) groups of expected numbers of people (``Decimal``, exact), each
with the individual-account money of its members (integer fen). One year, for the
people alive at its start:

1. those under the pension age contribute (participation × contribution);
2. a cohort reaching the pension age has its monthly account pension fixed as its
   balance per person ÷ the divisor (139 at 60), rounded half up to the fen;
3. pensioners are paid twelve months of basic pension (the government's) and of
   account pension, the latter from the cohort's balance while it lasts; what the
   balance cannot cover the government pays on (its "exhausted" part);
4. interest is credited on what remains; deaths (q by sex and age) take their share of
   the cohort's balance out as inheritance; everyone ages a year; entrants join at 16.

People are conserved (alive + dead = start + entrants) and so is money (balance at the
end = balance at the start + contributions + interest − account pensions paid −
inheritance); ``tests/backend/test_projection.py`` checks both and a hand-computed case.
The database is not touched here: callers load the population and rules and pass them in.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from backend.errors import FieldError, InvalidInput

DATA_DIR = Path(__file__).resolve().parent / "data"
ENTRY_AGE = 16
MAX_AGE = 100

Cohort = tuple[str, int]  # (gender code, age)


def fen(amount: Decimal) -> int:
    """Round a Decimal amount to whole fen, half up."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class MortalityTable:
    """Probabilities of dying within the year by sex and age, as dated data with a source."""

    source: str
    valid_from: dt.date
    confirmed: bool
    q: Mapping[Cohort, Decimal]

    def rate(self, sex: str, age: int) -> Decimal:
        """q(x) for the sex and age (the last age of the table for older ages)."""
        return self.q[(sex, min(age, MAX_AGE))]


def load_mortality(path: Path = DATA_DIR / "mortality_unconfirmed.csv") -> MortalityTable:
    """A mortality table file: ``# key: value`` header lines, then ``sex,age,q`` rows."""
    header: dict[str, str] = {}
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                key, sep, value = line[1:].partition(":")
                if sep and key.strip() in ("source", "valid_from", "confirmed"):
                    header[key.strip()] = value.strip()
            else:
                rows.append(line)
    q = {(r["sex"], int(r["age"])): Decimal(r["q"]) for r in csv.DictReader(rows)}
    return MortalityTable(
        source=header["source"],
        valid_from=dt.date.fromisoformat(header["valid_from"]),
        confirmed=header["confirmed"] == "true",
        q=q,
    )


@dataclass(frozen=True)
class Scenario:
    """The assumptions of one projection run (rates as Decimal, money in fen)."""

    start_year: int
    years: int
    pension_age: int = 60
    divisor: int = 139
    interest_rate: Decimal = Decimal("0.0175")
    basic_pension_fen: int = 14300  # monthly, the first year
    basic_pension_growth: Decimal = Decimal("0.03")
    contribution_fen: int = 30000  # a year, own money and subsidy together
    participation: Decimal = Decimal("0.8")


_LIMITS: dict[str, tuple[Any, Any]] = {
    "start_year": (2009, 2100),
    "years": (1, 80),
    "pension_age": (50, 75),
    "divisor": (1, 400),
    "interest_rate": (Decimal(0), Decimal("0.2")),
    "basic_pension_fen": (0, 10_000_000),
    "basic_pension_growth": (Decimal(0), Decimal("0.5")),
    "contribution_fen": (0, 100_000_000),
    "participation": (Decimal(0), Decimal(1)),
}


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """A scenario from a file's mapping; every bad field named (unknown keys, wrong types,
    values out of range), nothing half-accepted."""
    known = {f.name: f for f in fields(Scenario)}
    errors = [FieldError(k, "未知的参数", "unknown_field") for k in data if k not in known]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        low, high = _LIMITS[name]
        try:
            if isinstance(value, (bool, float)):
                raise TypeError
            parsed = Decimal(str(value)) if isinstance(low, Decimal) else int(value)
            if isinstance(low, int) and str(parsed) != str(value).strip():
                raise TypeError
        except (TypeError, ValueError, ArithmeticError):
            kind = "小数（以字符串书写）" if isinstance(low, Decimal) else "整数"
            errors.append(FieldError(name, f"应为{kind}", "invalid_type"))
            continue
        if parsed < low:
            code = "negative" if parsed < 0 else "out_of_range"
            errors.append(FieldError(name, f"不能小于{low}", code))
        elif parsed > high:
            errors.append(FieldError(name, f"不能大于{high}", "out_of_range"))
        else:
            values[name] = parsed
    for name in ("start_year", "years"):
        if name not in data:
            errors.append(FieldError(name, "必须填写", "required"))
    if errors:
        raise InvalidInput(detail="测算方案有误", code="invalid_scenario", fields=errors)
    return Scenario(**values)


@dataclass
class Population:
    """Expected people by (sex, age) and the account money of each cohort (fen)."""

    alive: dict[Cohort, Decimal] = field(default_factory=dict)
    balance_fen: dict[Cohort, int] = field(default_factory=dict)
    account_pension_fen: dict[Cohort, int] = field(default_factory=dict)

    def people(self) -> Decimal:
        """Everyone alive."""
        return sum(self.alive.values(), Decimal(0))

    def money(self) -> int:
        """All account money."""
        return sum(self.balance_fen.values())


@dataclass(frozen=True)
class YearResult:
    """One projected year."""

    year: int
    contributors: Decimal
    pensioners: Decimal
    deaths: Decimal
    entrants: Decimal
    contributions_fen: int
    interest_fen: int
    account_pension_paid_fen: int
    government_basic_fen: int
    government_after_exhaustion_fen: int
    inheritance_fen: int
    balance_fen: int
    alive: Decimal


def project_year(
    population: Population,
    *,
    year: int,
    scenario: Scenario,
    mortality: MortalityTable,
    entrants: Mapping[str, Decimal] | None = None,
) -> tuple[Population, YearResult]:
    """One year of the projection from ``population`` (alive at the start of ``year``)."""
    index = year - scenario.start_year
    basic = fen(Decimal(scenario.basic_pension_fen) * (1 + scenario.basic_pension_growth) ** index)
    after = Population()
    contributors = pensioners = deaths = Decimal(0)
    contributions = interest = paid = government = exhausted = inheritance = 0
    for cohort, alive in sorted(population.alive.items()):
        sex, age = cohort
        balance = population.balance_fen.get(cohort, 0)
        monthly = population.account_pension_fen.get(cohort, 0)
        if age < scenario.pension_age:
            paying = alive * scenario.participation
            contributors += paying
            amount = fen(paying * scenario.contribution_fen)
            contributions += amount
            balance += amount
        else:
            if age == scenario.pension_age or (cohort not in population.account_pension_fen):
                monthly = fen(Decimal(balance) / alive / scenario.divisor) if alive else 0
            pensioners += alive
            due = fen(alive * 12 * monthly)
            from_account = min(due, balance)
            balance -= from_account
            paid += from_account
            exhausted += due - from_account
            government += fen(alive * 12 * basic)
        credited = fen(Decimal(balance) * scenario.interest_rate)
        interest += credited
        balance += credited
        dying = alive * mortality.rate(sex, age)
        leaving = fen(Decimal(balance) * dying / alive) if alive else 0
        deaths += dying
        inheritance += leaving
        if age < MAX_AGE:
            older = (sex, age + 1)
            after.alive[older] = after.alive.get(older, Decimal(0)) + alive - dying
            after.balance_fen[older] = after.balance_fen.get(older, 0) + balance - leaving
            if age >= scenario.pension_age:
                after.account_pension_fen[older] = monthly
        else:  # the table's last age: everyone left dies within the year
            deaths += alive - dying
            inheritance += balance - leaving
    new = Decimal(0)
    for sex, count in (entrants or {}).items():
        after.alive[(sex, ENTRY_AGE)] = after.alive.get((sex, ENTRY_AGE), Decimal(0)) + count
        new += count
    return after, YearResult(
        year=year,
        contributors=contributors,
        pensioners=pensioners,
        deaths=deaths,
        entrants=new,
        contributions_fen=contributions,
        interest_fen=interest,
        account_pension_paid_fen=paid,
        government_basic_fen=government,
        government_after_exhaustion_fen=exhausted,
        inheritance_fen=inheritance,
        balance_fen=after.money(),
        alive=after.people(),
    )


def project(
    population: Population,
    *,
    scenario: Scenario,
    mortality: MortalityTable,
    entrants: Mapping[int, Mapping[str, Decimal]] | None = None,
) -> list[YearResult]:
    """Every year of the scenario; ``entrants`` by year and sex join at age 16."""
    results = []
    for year in range(scenario.start_year, scenario.start_year + scenario.years):
        population, result = project_year(
            population,
            year=year,
            scenario=scenario,
            mortality=mortality,
            entrants=(entrants or {}).get(year),
        )
        results.append(result)
    return results
