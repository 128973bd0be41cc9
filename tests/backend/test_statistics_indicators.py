"""Indicators add up down the region tree, and the fund's flows explain its balance."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.statistics.indicators import (
    Figures,
    Period,
    by_ethnicity,
    by_sex_and_age,
    compute,
    fund_flows,
)
from tests.backend.statistics_support import COUNTY, statistics_county
from tests.conftest import World

FUND = {"fund_income_fen", "fund_expenditure_fen", "fund_balance_fen"}


def _fold(figures: Figures, length: int) -> Figures:
    folded: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, values in figures.items():
        for name, value in values.items():
            folded[code[:length]][name] += value
    return {code: dict(values) for code, values in folded.items()}


def _without(figures: Figures, names: set[str]) -> Figures:
    return {
        code: kept
        for code, values in figures.items()
        if (kept := {n: v for n, v in values.items() if n not in names})
    }


def test_figures_of_a_seeded_county_add_up(world: World, session_factory, tmp_path: Path):
    """One county built once (it is the slow part): tree sums, fund flows, sex and age."""
    statistics_county(world, session_factory, tmp_path)
    _every_region_totals_the_sum_of_its_children(session_factory)
    _fund_income_less_expenditure_is_the_change_of_the_balance_every_month(session_factory)
    _enrolled_and_pensioners_by_sex_and_age_band_total_the_region(session_factory)


def _every_region_totals_the_sum_of_its_children(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        for period in (Period(2026, 6), Period(2026, 4), Period(2026)):
            levels = {
                n: compute(session=s, prefix=COUNTY, key_length=n, period=period)
                for n in (12, 9, 6)
            }
            province = compute(session=s, prefix="65", key_length=2, period=period)
            assert _fold(levels[12], 9) == levels[9]
            assert _fold(levels[9], 6) == _without(levels[6], FUND)
            assert _fold(levels[6], 2) == province
    with unit_of_work(session_factory) as s:
        june = compute(session=s, prefix=COUNTY, key_length=6, period=Period(2026, 6))[COUNTY]
    # The figures are the world's: nothing here is vacuous.
    assert june["pensioners"] == june["new_awards"] == 3
    assert 0 < june["enrolled"] < june["eligible"]
    assert june["contributors"] == june["contributors_counter"] == 2
    assert june["hardship_payers"] == 1 and june["government_paid_fen"] > 0
    # The June payroll: one line per pensioner, all paid by the bank's return file.
    assert june["payouts_paid"] == 3 and "payouts_failed" not in june
    assert june["payouts_paid_fen"] == june["pension_total_fen"]
    assert "certification_overdue" not in june
    # Cards: the loss at 01:00 Beijing time on 1 July is July's, not June's.
    assert june["cards_active"] == 2 and "cards_lost" not in june
    with unit_of_work(session_factory) as s:
        july = compute(session=s, prefix=COUNTY, key_length=6, period=Period(2026, 7))[COUNTY]
    assert july["cards_active"] == 1 and july["cards_lost"] == 1
    assert june["fund_income_fen"] == 75000 + june["subsidy_fen"] + june["government_paid_fen"]
    with unit_of_work(session_factory) as s:
        year = compute(session=s, prefix=COUNTY, key_length=6, period=Period(2026))[COUNTY]
    # Eight collections, the third reversed in its own month: seven residents paid.
    assert year["contributors"] == 7
    assert {n: v for n, v in year.items() if n.startswith("grade_")} == {
        "grade_10000": 3,
        "grade_30000": 3,
        "grade_50000": 1,  # the third collection, reversed
    }
    assert {n: v for n, v in june.items() if n.startswith("grade_")} == {
        "grade_30000": 1,
        "grade_50000": 1,
    }
    assert year["contribution_fen"] == 10000 + 30000 + 10000 + 25000 + 50000 + 10000 + 30000
    assert year["cards_issued"] == 2 and year["cards_lost"] == 1
    assert year["fund_expenditure_fen"] > 0  # the June payroll, paid out in November


def _fund_income_less_expenditure_is_the_change_of_the_balance_every_month(
    session_factory,
) -> None:
    with unit_of_work(session_factory) as s:
        previous = compute(session=s, prefix=COUNTY, key_length=6, period=Period(2024, 12))
        assert previous[COUNTY]["fund_balance_fen"] > 0
        balance = previous[COUNTY]["fund_balance_fen"]
        months = [Period(2025, m) for m in range(1, 13)] + Period(2026).months()
        for month in months:
            figures = compute(session=s, prefix=COUNTY, key_length=6, period=month)[COUNTY]
            flows = fund_flows(session=s, prefix=COUNTY, key_length=6, period=month)
            net = figures.get("fund_income_fen", 0) - figures.get("fund_expenditure_fen", 0)
            assert net == figures["fund_balance_fen"] - balance, month
            assert net == sum(flows.get(COUNTY, {}).values())
            balance = figures["fund_balance_fen"]


def _enrolled_and_pensioners_by_sex_and_age_band_total_the_region(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        groups = by_sex_and_age(session=s, prefix=COUNTY, period=Period(2026, 6))
        total = compute(session=s, prefix=COUNTY, key_length=6, period=Period(2026, 6))[COUNTY]
    assert sum(g.get("enrolled", 0) for g in groups.values()) == total["enrolled"]
    assert sum(g.get("pensioners", 0) for g in groups.values()) == total["pensioners"] == 3
    assert {key for key, g in groups.items() if g.get("pensioners")} <= {"1/60", "2/60"}
    with unit_of_work(session_factory) as s:
        peoples = by_ethnicity(session=s, prefix=COUNTY, period=Period(2026, 6))
    assert len(peoples) > 1
    assert sum(g.get("enrolled", 0) for g in peoples.values()) == total["enrolled"]
    assert sum(g.get("pensioners", 0) for g in peoples.values()) == 3


@pytest.mark.parametrize("text", ["2026-13", "26-01", "2008", "abcd", "2026-1"])
def test_a_malformed_period_is_a_field_error(text):
    with pytest.raises(InvalidInput) as caught:
        Period.parse(text)
    assert [f.field for f in caught.value.fields] == ["period"]
