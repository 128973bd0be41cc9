"""The projection core: a hand-computed cohort, conservation of people and money, the
government paying on after an account runs out, and scenario files' field errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backend.errors import InvalidInput
from backend.statistics.projection import (
    MortalityTable,
    Population,
    Scenario,
    load_mortality,
    parse_scenario,
    project,
)

FLAT = MortalityTable(
    source="test: q = 0.01 at every age",
    valid_from=dt.date(2020, 1, 1),
    confirmed=False,
    q={(sex, age): Decimal("0.01") for sex in "12" for age in range(101)},
)
HAND = Scenario(
    start_year=2026,
    years=5,
    pension_age=60,
    divisor=139,
    interest_rate=Decimal(0),
    basic_pension_fen=10000,
    basic_pension_growth=Decimal(0),
    contribution_fen=100000,
    participation=Decimal(1),
)


def test_one_cohort_of_100_over_five_years_as_computed_by_hand():
    """100 men aged 58 with 13,900 yuan each; 1,000 yuan a year until 60; q = 1%."""
    start = Population(alive={("1", 58): Decimal(100)}, balance_fen={("1", 58): 139_000_000})
    years = project(start, scenario=HAND, mortality=FLAT)
    # 2026, age 58: 100 pay 100,000 fen → 149,000,000; 1 dies with 1/100 of it.
    # 2027, age 59: 99 pay → 147,510,000 + 9,900,000 = 157,410,000; 0.99 die with 1%.
    # 2028, age 60: account pension 155,835,900 / 98.01 / 139 = 11,438.85 → 11,439 fen a
    #   month; 98.01 × 12 × 11,439 = 13,453,636.68 → 13,453,637 paid; basic
    #   98.01 × 12 × 10,000 = 11,761,200; 1% of the rest, 1,423,822.63 → 1,423,823, inherited.
    # 2029, age 61: 97.0299 × 137,268 = 13,319,100.31 → 13,319,100; basic 11,643,588;
    #   1% of 127,639,340 → 1,276,393.
    # 2030, age 62: 96.059601 × 137,268 = 13,185,909.31 → 13,185,909; basic 11,527,152.12 →
    #   11,527,152; 1% of 113,177,038 → 1,131,770.
    assert [y.contributions_fen for y in years] == [10_000_000, 9_900_000, 0, 0, 0]
    assert [y.inheritance_fen for y in years] == [
        1_490_000,
        1_574_100,
        1_423_823,
        1_276_393,
        1_131_770,
    ]
    assert [y.account_pension_paid_fen for y in years] == [
        0,
        0,
        13_453_637,
        13_319_100,
        13_185_909,
    ]
    assert [y.government_basic_fen for y in years] == [0, 0, 11_761_200, 11_643_588, 11_527_152]
    assert [y.balance_fen for y in years] == [
        147_510_000,
        155_835_900,
        140_958_440,
        126_362_947,
        112_045_268,
    ]
    assert [y.alive for y in years] == [
        Decimal(99),
        Decimal("98.01"),
        Decimal("97.0299"),
        Decimal("96.059601"),
        Decimal("95.09900499"),
    ]
    assert [y.government_after_exhaustion_fen for y in years] == [0] * 5


def test_government_pays_on_once_the_account_is_used_up():
    """10 pensioners of 60 with 2,000 yuan each: 2,000/139 = 14.39 → 1,439 fen a month."""
    start = Population(alive={("2", 60): Decimal(10)}, balance_fen={("2", 60): 2_000_000})
    no_deaths = MortalityTable(
        "test", dt.date(2020, 1, 1), False, dict.fromkeys(FLAT.q, Decimal(0))
    )
    years = project(start, scenario=HAND, mortality=no_deaths)
    # Each year is due 10 × 12 × 1,439 = 172,680: the 2,000,000 last 11 years.
    assert [y.account_pension_paid_fen for y in years] == [172_680] * 5
    # 200,000 fen for ten people and a divisor of 6: the money lasts half a year.
    small = Population(alive={("2", 60): Decimal(10)}, balance_fen={("2", 60): 200_000})
    quick = Scenario(**{**vars(HAND), "divisor": 6})
    years = project(small, scenario=quick, mortality=no_deaths)
    # 200,000 fen / 10 people / 6 = 3,333.33 → 3,333 fen a month each;
    # 10 × 12 × 3,333 = 399,960 due a year, of which the account pays 200,000 once.
    assert years[0].account_pension_paid_fen == 200_000
    assert years[0].government_after_exhaustion_fen == 399_960 - 200_000
    assert years[1].account_pension_paid_fen == 0
    assert years[1].government_after_exhaustion_fen == 399_960
    assert all(y.balance_fen == 0 for y in years)


def test_people_and_money_are_conserved_over_fifty_years():
    mortality = load_mortality()
    assert not mortality.confirmed and mortality.source
    start = Population()
    for sex in "12":
        for age in range(16, 101):
            start.alive[(sex, age)] = Decimal(1000 - 9 * age)
            start.balance_fen[(sex, age)] = 5_000 * max(0, min(age, 60) - 16) * 1000
    scenario = Scenario(start_year=2026, years=50, interest_rate=Decimal("0.02"))
    entrants = {year: {"1": Decimal(850), "2": Decimal(800)} for year in range(2026, 2076)}
    people = start.people()
    money = start.money()
    dead = entered = Decimal(0)
    for year in project(start, scenario=scenario, mortality=mortality, entrants=entrants):
        dead += year.deaths
        entered += year.entrants
        # Exact up to the 28 significant digits of Decimal arithmetic.
        assert abs(year.alive + dead - (people + entered)) < Decimal("1e-18"), year.year
        assert year.balance_fen == money + year.contributions_fen + year.interest_fen - (
            year.account_pension_paid_fen + year.inheritance_fen
        ), year.year
        money = year.balance_fen
        assert money >= 0


def test_scenario_files_are_checked_field_by_field():
    with pytest.raises(InvalidInput) as caught:
        parse_scenario(
            {
                "start_year": 2026,
                "years": 120,
                "interest_rate": "-0.01",
                "basic_pension_fen": 14.5,
                "retirement_age": 65,
            }
        )
    errors = {e.field: e.code for e in caught.value.fields}
    assert errors == {
        "retirement_age": "unknown_field",
        "years": "out_of_range",
        "interest_rate": "negative",
        "basic_pension_fen": "invalid_type",
    }
    with pytest.raises(InvalidInput) as caught:
        parse_scenario({"years": 30})
    assert [e.field for e in caught.value.fields] == ["start_year"]
    scenario = parse_scenario({"start_year": 2026, "years": 30, "participation": "0.75"})
    assert scenario.participation == Decimal("0.75") and scenario.divisor == 139
