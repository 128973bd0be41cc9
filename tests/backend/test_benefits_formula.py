"""The pension formula and the qualification rules, pure, on hand-computed cases."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from backend.benefits.formula import (
    add_months,
    long_contribution_bonus,
    monthly_pension,
    months_between,
    split_by_source,
)
from backend.benefits.qualification import Facts, qualify, required_years, start_month
from backend.errors import InvalidInput
from backend.policy import service as policy
from backend.policy.rules import LongContributionBonus, PolicyRules, rules_from_dict


def _national_2014() -> PolicyRules:
    [version] = policy.read_file(policy.DATA_DIR / "national_2014.toml")
    return rules_from_dict(version.rules)


def _county() -> PolicyRules:
    """National 2014 with the demo county's top-up (35 yuan) and Wuhan-style bonus."""
    return replace(
        _national_2014(),
        basic_pension_topup_fen=3500,
        long_contribution_bonus=LongContributionBonus(200, 15, 300),
    )


def test_pension_of_fifteen_years_and_a_balance_is_summed_part_by_part() -> None:
    # 2024: minimum 123 yuan, top-up 35, bonus 15 × 2 = 30, account 13 900.00 ÷ 139 = 100.00.
    parts = monthly_pension(
        _county(),
        policy_version_id=7,
        month=dt.date(2024, 3, 1),
        contribution_years=15,
        balance_fen=1_390_000,
    )
    assert (parts.minimum_fen, parts.topup_fen, parts.bonus_fen) == (12300, 3500, 3000)
    assert parts.account_fen == 10000
    assert parts.basic_fen == 18800
    assert parts.total_fen == 28800
    assert parts.policy_version_id == 7


def test_account_pension_rounds_half_up_once() -> None:
    # 10 000.00 yuan ÷ 139 = 71.942… → 71.94; 69 fen ÷ 139 < 0.5 fen → 0; 70 fen → 1 fen.
    def account(balance_fen: int) -> int:
        return monthly_pension(
            _national_2014(),
            policy_version_id=1,
            month=dt.date(2024, 1, 1),
            contribution_years=15,
            balance_fen=balance_fen,
        ).account_fen

    assert (account(1_000_000), account(69), account(70)) == (7194, 0, 1)


def test_basic_minimum_follows_the_month() -> None:
    rules = _national_2014()
    months = {dt.date(2014, 6, 1): 5500, dt.date(2014, 7, 1): 7000, dt.date(2023, 12, 1): 10300}
    for month, minimum in months.items():
        parts = monthly_pension(
            rules, policy_version_id=1, month=month, contribution_years=15, balance_fen=0
        )
        assert parts.minimum_fen == minimum
        assert parts.total_fen == minimum


def test_month_before_any_minimum_is_an_error_not_a_default() -> None:
    with pytest.raises(InvalidInput) as err:
        monthly_pension(
            _national_2014(),
            policy_version_id=1,
            month=dt.date(2010, 1, 1),
            contribution_years=15,
            balance_fen=0,
        )
    assert err.value.code == "basic_pension_missing"


def test_long_contribution_bonus_beyond_the_threshold() -> None:
    bonus = LongContributionBonus(200, 15, 300)
    assert long_contribution_bonus(bonus, 0) == 0
    assert long_contribution_bonus(bonus, 10) == 2000
    assert long_contribution_bonus(bonus, 15) == 3000
    assert long_contribution_bonus(bonus, 20) == 3000 + 5 * 300
    assert long_contribution_bonus(None, 20) == 0


def test_month_arithmetic() -> None:
    assert add_months(dt.date(2024, 11, 1), 3) == dt.date(2025, 2, 1)
    assert add_months(dt.date(2024, 1, 1), -1) == dt.date(2023, 12, 1)
    assert months_between(dt.date(2023, 11, 1), dt.date(2024, 2, 1)) == 3


def _facts(**changes: object) -> Facts:
    base = Facts(
        birth_date=dt.date(1964, 5, 10),
        has_household_register=True,
        receives_other_state_pension=False,
        contribution_years=15,
        scheme_start=dt.date(2009, 9, 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_sixty_with_fifteen_years_qualifies() -> None:
    assert qualify(_national_2014(), _facts(), dt.date(2024, 5, 10)) == []


def test_every_reason_is_given_at_once_each_naming_its_rule() -> None:
    facts = _facts(
        has_household_register=False, receives_other_state_pension=True, contribution_years=9
    )
    reasons = qualify(_national_2014(), facts, dt.date(2024, 5, 9))
    assert [r.rule for r in reasons] == [
        "pension_age",
        "household_register",
        "other_state_pension",
        "min_contribution_years",
    ]
    assert "59周岁" in reasons[0].message
    assert "累计缴费9年，不足15年" in reasons[3].message


def test_already_sixty_at_scheme_start_needs_children_enrolled() -> None:
    facts = _facts(birth_date=dt.date(1945, 3, 1), contribution_years=0, children_enrolled=True)
    assert qualify(_national_2014(), facts, dt.date(2010, 1, 1)) == []
    refused = qualify(
        _national_2014(), replace(facts, children_enrolled=False), dt.date(2010, 1, 1)
    )
    assert [r.rule for r in refused] == ["children_enrolled"]


def test_under_fifteen_years_to_go_must_pay_every_year_since_start() -> None:
    # 54 at 2009-09-01, so six years to go (2009–2014): six years qualify, five do not.
    birth = dt.date(1955, 3, 1)
    assert required_years(_national_2014(), birth, dt.date(2009, 9, 1)) == 6
    facts = _facts(birth_date=birth, contribution_years=6)
    assert qualify(_national_2014(), facts, dt.date(2015, 3, 1)) == []
    short = qualify(_national_2014(), replace(facts, contribution_years=5), dt.date(2015, 3, 1))
    assert [r.rule for r in short] == ["pay_yearly"]
    assert "可补缴" in short[0].message


def test_start_month_is_the_month_after_sixty_or_the_application() -> None:
    rules = _national_2014()
    assert start_month(rules, dt.date(1964, 5, 10), dt.date(2024, 4, 20)) == dt.date(2024, 6, 1)
    assert start_month(rules, dt.date(1964, 5, 10), dt.date(2024, 9, 3)) == dt.date(2024, 9, 1)
    assert start_month(rules, dt.date(1963, 12, 31), dt.date(2023, 6, 2)) == dt.date(2024, 1, 1)


def test_draw_is_split_by_source_in_proportion_and_adds_up() -> None:
    # 100.00 yuan over 10 000.00 own and 3 900.00 subsidy: 7194.24… and 2805.75… fen →
    # floors 7194 and 2805; the one fen left goes to the larger remainder (the subsidy's).
    parts = split_by_source(10000, {"own": 1_000_000, "government_subsidy": 390_000})
    assert parts == {"own": 7194, "government_subsidy": 2806}
    assert split_by_source(0, {"own": 5}) == {}
    assert split_by_source(7, {"own": 0, "interest": -3}) == {}
    assert sum(split_by_source(1, {"a": 1, "b": 1, "c": 1}).values()) == 1
