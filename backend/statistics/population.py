"""The projection's starting point read from the live registry, accounts and pensions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from backend.accounts.models import Account, AccountEntry
from backend.benefits.models import Computation, Pension
from backend.registry.models import Enrolment, Person
from backend.statistics.indicators import alive_on, enrolled_on
from backend.statistics.projection import ENTRY_AGE, MAX_AGE, Population


def starting_population(
    *, session: Session, prefix: str, on: dt.date, years: int
) -> tuple[Population, dict[int, dict[str, Decimal]]]:
    """Enrolled residents under ``prefix`` on ``on`` by sex and age with their account
    balances and fixed account pensions, and the residents not yet 16 as entrants by the
    year they turn 16 (within ``years``). Grouped in SQL by sex and birth year."""
    birth_year = extract("year", Person.birth_date)
    enrolled = (
        select(Person.gender, birth_year, func.count(func.distinct(Person.id)))
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.region_code.startswith(prefix), enrolled_on(on), alive_on(on))
        .group_by(Person.gender, birth_year)
    )
    enrolled_ids = (
        select(Enrolment.person_id)
        .join(Person, Person.id == Enrolment.person_id)
        .where(Enrolment.region_code.startswith(prefix), enrolled_on(on), alive_on(on))
    )
    balances = (
        select(Person.gender, birth_year, func.sum(AccountEntry.amount_fen))
        .join(Account, Account.id == AccountEntry.account_id)
        .join(Person, Person.id == Account.person_id)
        .where(Person.id.in_(enrolled_ids), AccountEntry.entry_date <= on)
        .group_by(Person.gender, birth_year)
    )
    pensions = (
        select(Person.gender, birth_year, func.sum(Computation.account_fen), func.count())
        .select_from(Pension)
        .join(Person, Person.id == Pension.person_id)
        .join(Computation, Computation.id == Pension.computation_id)
        .where(Person.id.in_(enrolled_ids), Pension.status != "terminated")
        .group_by(Person.gender, birth_year)
    )
    young = (
        select(Person.gender, birth_year, func.count())
        .where(
            Person.hukou_region_code.startswith(prefix),
            Person.birth_date > on.replace(year=on.year - ENTRY_AGE),
            alive_on(on),
        )
        .group_by(Person.gender, birth_year)
    )
    population = Population()

    def cohort(gender: str, year: int) -> tuple[str, int]:
        return gender, min(on.year - int(year), MAX_AGE)

    for gender, year, count in session.execute(enrolled):
        key = cohort(gender, year)
        population.alive[key] = population.alive.get(key, Decimal(0)) + count
    for gender, year, total in session.execute(balances):
        key = cohort(gender, year)
        population.balance_fen[key] = population.balance_fen.get(key, 0) + int(total or 0)
    for gender, year, monthly, count in session.execute(pensions):
        key = cohort(gender, year)
        population.account_pension_fen[key] = int(monthly) // int(count)
    entrants: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for gender, year, count in session.execute(young):
        joins = int(year) + ENTRY_AGE
        if joins < on.year + years:
            entrants[joins][gender] = entrants[joins].get(gender, Decimal(0)) + count
    return population, dict(entrants)
