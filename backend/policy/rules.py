"""The rules of one policy version as plain data, and the pure computations they drive.

No ORM here: the subsidy of a grade, the hardship payment, the yearly interest of an
account and the rounding are plain functions tested on hand-computed cases. Money is
integer fen; rates are ``Decimal``; rounding is half up, once, at the step named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from backend.errors import InvalidInput, invalid


class InterestConvention(StrEnum):
    """How the current year's entries earn interest (DOMAIN.md §4)."""

    # Opening balance × rate, plus each entry × rate × whole months left after its month ÷ 12.
    MONTHS_REMAINING = "months_remaining"
    # Only the opening balance earns interest; this year's entries start next year.
    OPENING_ONLY = "opening_only"


class InheritanceRule(StrEnum):
    """What part of a deceased person's balance the heirs receive."""

    EXCLUDE_GOVERNMENT_SUBSIDY = "exclude_government_subsidy"  # 2009
    WHOLE_BALANCE = "whole_balance"  # 2014


@dataclass(frozen=True)
class SubsidyTier:
    """From ``min_grade_fen`` upwards the government adds ``subsidy_fen`` a year."""

    min_grade_fen: int
    subsidy_fen: int


@dataclass(frozen=True)
class HardshipGroup:
    """A group whose lowest grade the government pays, wholly or in part (代缴)."""

    code: str
    label: str
    share: Decimal  # of the lowest grade, 0 < share ≤ 1


@dataclass(frozen=True)
class MakeUpRule:
    """Back payment of missed years (补缴)."""

    allowed: bool
    years_to_pension_below: int  # only people with fewer years than this left before the age
    max_total_years: int  # contribution years, make-up included, may not pass this
    subsidised: bool


@dataclass(frozen=True)
class LongContributionBonus:
    """Monthly bonus per contribution year: one amount up to a threshold, another beyond."""

    per_year_fen: int
    threshold_years: int
    beyond_per_year_fen: int


@dataclass(frozen=True)
class PolicyRules:
    """Every rule of one version, complete (county overrides are merged in at load)."""

    grades_fen: tuple[int, ...]
    subsidy_tiers: tuple[SubsidyTier, ...]
    hardship_groups: Mapping[str, HardshipGroup]
    collective_and_donation_cap_fen: int
    make_up: MakeUpRule
    interest_rates: Mapping[int, Decimal]  # year → yearly rate as a fraction (0.0175)
    interest_convention: InterestConvention
    basic_pension_schedule: tuple[tuple[dt.date, int], ...]  # (from, national minimum/month)
    basic_pension_topup_fen: int
    long_contribution_bonus: LongContributionBonus | None
    account_divisor: int
    inheritance: InheritanceRule
    funeral_grant_months: int
    # Most of one payroll's pension that may be kept back to recover an overpayment
    # (社会保险经办条例 Art. 46 leaves the share to the locality; data, not code).
    overpayment_deduction_percent: int = 50
    # How long a survival certification (资格认证) holds before the next is due.
    survival_certification_months: int = 12
    # Whether a kiosk may certify survival only with a face comparison against the ID card
    # photo (liveness included); a counter certification records the documents seen.
    kiosk_certification_requires_face: bool = False
    pension_age: int = 60
    min_contribution_years: int = 15

    @property
    def lowest_grade_fen(self) -> int:
        """The lowest grade of the version."""
        return self.grades_fen[0]

    def basic_pension_minimum_on(self, on: dt.date) -> int:
        """The minimum basic pension per month in force on ``on`` (fen)."""
        amount: int | None = None
        for start, monthly_fen in self.basic_pension_schedule:
            if start <= on:
                amount = monthly_fen
        if amount is None:
            raise InvalidInput(
                detail=f"政策版本未规定{on}的基础养老金标准", code="basic_pension_missing"
            )
        return amount

    def rate_for(self, year: int) -> Decimal:
        """The interest rate of ``year``; a year without a published rate is an error."""
        try:
            return self.interest_rates[year]
        except KeyError:
            raise InvalidInput(
                detail=f"政策版本未规定{year}年的记账利率",
                code="interest_rate_missing",
                extra={"year": year},
            ) from None


def round_half_up(value: Decimal) -> int:
    """Round an amount in fen (possibly fractional) half up to a whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan_to_fen(text: str | int | Decimal) -> int:
    """Parse yuan (``"100"``, ``"0.50"``) to fen exactly; more than 2 decimals is an error."""
    amount = Decimal(str(text)) * 100
    if amount != amount.to_integral_value():
        raise ValueError(f"金额精度超过分：{text}")
    return int(amount)


def fen_to_yuan(fen: int) -> str:
    """Format fen as yuan with two decimals (``12345`` → ``"123.45"``)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


# ---- contributions ---------------------------------------------------------------------


@dataclass(frozen=True)
class AssessmentAmounts:
    """What one person's year comes to: who pays what into the account."""

    grade_fen: int
    own_due_fen: int  # what the resident pays
    hardship_paid_fen: int  # what the government pays on the resident's behalf
    government_subsidy_fen: int
    collective_fen: int
    donation_fen: int

    @property
    def total_credit_fen(self) -> int:
        """Everything that lands in the account once the year is settled."""
        return (
            self.own_due_fen
            + self.hardship_paid_fen
            + self.government_subsidy_fen
            + self.collective_fen
            + self.donation_fen
        )


def government_subsidy_for(rules: PolicyRules, grade_fen: int) -> int:
    """The government contribution subsidy of a grade: the highest tier the grade reaches."""
    subsidy = 0
    for tier in rules.subsidy_tiers:
        if grade_fen >= tier.min_grade_fen:
            subsidy = max(subsidy, tier.subsidy_fen)
    return subsidy


def assess(
    rules: PolicyRules,
    *,
    grade_fen: int,
    hardship_group: str | None = None,
    collective_fen: int = 0,
    donation_fen: int = 0,
    make_up: bool = False,
) -> AssessmentAmounts:
    """Compute a year's amounts for a chosen grade (raises ``InvalidInput`` on a bad choice)."""
    if grade_fen not in rules.grades_fen:
        grades = "、".join(fen_to_yuan(g) for g in rules.grades_fen)
        raise invalid("grade_fen", f"缴费档次{fen_to_yuan(grade_fen)}元不在政策档次内（{grades}）")
    if collective_fen < 0 or donation_fen < 0:
        raise invalid("collective_fen", "集体补助和捐助不能为负")
    if collective_fen + donation_fen > rules.collective_and_donation_cap_fen:
        raise invalid(
            "collective_fen",
            f"集体补助与捐助合计不能超过{fen_to_yuan(rules.collective_and_donation_cap_fen)}元",
        )
    hardship_paid = 0
    if hardship_group is not None:
        group = rules.hardship_groups.get(hardship_group)
        if group is None:
            raise invalid("hardship_group", f"困难群体代码{hardship_group}不在政策内")
        if make_up:
            raise invalid("hardship_group", "补缴年度不享受政府代缴")
        hardship_paid = round_half_up(Decimal(rules.lowest_grade_fen) * group.share)
    subsidised = not make_up or rules.make_up.subsidised
    return AssessmentAmounts(
        grade_fen=grade_fen,
        own_due_fen=grade_fen - hardship_paid,
        hardship_paid_fen=hardship_paid,
        government_subsidy_fen=government_subsidy_for(rules, grade_fen) if subsidised else 0,
        collective_fen=collective_fen if subsidised else 0,
        donation_fen=donation_fen if subsidised else 0,
    )


# ---- interest --------------------------------------------------------------------------


def interest_weight(
    opening_fen: int, entries: Iterable[tuple[int, int]], convention: InterestConvention
) -> int:
    """Twelve times the balance-months that earn interest: 12 × opening + Σ amount × months left.

    ``entries`` are (month 1–12, amount in fen) of the year. Integer, so the SQL of the
    batch run computes exactly the same number.
    """
    weight = 12 * opening_fen
    if convention is InterestConvention.MONTHS_REMAINING:
        weight += sum(amount * (12 - month) for month, amount in entries)
    return weight


def interest_from_weight(weight: int, rate: Decimal) -> int:
    """Interest in fen of a weight at a yearly rate: weight × rate ÷ 12, rounded half up once."""
    if weight <= 0:
        return 0
    return round_half_up(Decimal(weight) * rate / 12)


def rate_fraction(rate: Decimal) -> tuple[int, int]:
    """The rate as an exact (numerator, denominator) for integer arithmetic in SQL."""
    numerator, denominator = rate.as_integer_ratio()
    return numerator, denominator


def yearly_interest(
    rules: PolicyRules, year: int, *, opening_fen: int, entries: Iterable[tuple[int, int]]
) -> int:
    """The interest of one account for ``year`` under the version's rate and convention."""
    weight = interest_weight(opening_fen, entries, rules.interest_convention)
    return interest_from_weight(weight, rules.rate_for(year))


def account_pension_monthly(rules: PolicyRules, balance_fen: int) -> int:
    """The monthly account pension: balance ÷ divisor (139), rounded half up to the fen."""
    return round_half_up(Decimal(balance_fen) / rules.account_divisor)


# ---- reading a rule table ---------------------------------------------------------------


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _percent(value: Any) -> Decimal:
    return Decimal(str(value)) / 100


def rules_from_dict(raw: Mapping[str, Any]) -> PolicyRules:
    """Build rules from the yuan/percent form of the data files (raises ``InvalidInput``)."""
    try:
        grades = tuple(sorted(yuan_to_fen(g) for g in raw["grades_yuan"]))
        if not grades or grades[0] <= 0:
            raise ValueError("缴费档次不能为空且须为正数")
        bonus = raw.get("long_contribution_bonus")
        make_up = raw["make_up"]
        return PolicyRules(
            grades_fen=grades,
            subsidy_tiers=tuple(
                SubsidyTier(yuan_to_fen(t["min_grade_yuan"]), yuan_to_fen(t["subsidy_yuan"]))
                for t in raw["subsidy_tiers"]
            ),
            hardship_groups={
                g["code"]: HardshipGroup(g["code"], g["label"], _share(g["share"]))
                for g in raw.get("hardship_groups", [])
            },
            collective_and_donation_cap_fen=yuan_to_fen(raw["collective_and_donation_cap_yuan"]),
            make_up=MakeUpRule(
                allowed=bool(make_up["allowed"]),
                years_to_pension_below=int(make_up["years_to_pension_below"]),
                max_total_years=int(make_up["max_total_years"]),
                subsidised=bool(make_up["subsidised"]),
            ),
            interest_rates={
                int(year): _percent(rate) for year, rate in raw.get("interest_rates", {}).items()
            },
            interest_convention=InterestConvention(raw["interest_convention"]),
            basic_pension_schedule=tuple(
                sorted(
                    (_date(s["from"]), yuan_to_fen(s["monthly_yuan"]))
                    for s in raw["basic_pension_schedule"]
                )
            ),
            basic_pension_topup_fen=yuan_to_fen(raw.get("basic_pension_topup_yuan", 0)),
            long_contribution_bonus=None
            if bonus is None
            else LongContributionBonus(
                yuan_to_fen(bonus["per_year_yuan"]),
                int(bonus["threshold_years"]),
                yuan_to_fen(bonus["beyond_per_year_yuan"]),
            ),
            account_divisor=int(raw["account_divisor"]),
            inheritance=InheritanceRule(raw["inheritance"]),
            funeral_grant_months=int(raw.get("funeral_grant_months", 0)),
            overpayment_deduction_percent=_percent_whole(
                raw.get("overpayment_deduction_percent", 50)
            ),
            survival_certification_months=_months(raw.get("survival_certification_months", 12)),
            kiosk_certification_requires_face=_flag(
                raw.get("kiosk_certification_requires_face", False)
            ),
            pension_age=int(raw.get("pension_age", 60)),
            min_contribution_years=int(raw.get("min_contribution_years", 15)),
        )
    except KeyError as exc:
        raise invalid(f"rules.{exc.args[0]}", "缺少必填的政策项", "required") from exc
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise invalid("rules", f"政策项格式错误：{exc}") from exc


def _months(value: Any) -> int:
    months = int(value)
    if not 1 <= months <= 60:
        raise ValueError(f"认证周期须在1到60个月之间：{value}")
    return months


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"须为 true 或 false：{value!r}")
    return value


def _percent_whole(value: Any) -> int:
    percent = int(value)
    if not 0 < percent <= 100:
        raise ValueError(f"扣回比例须在1到100之间：{value}")
    return percent


def _share(value: Any) -> Decimal:
    share = Decimal(str(value))
    if not Decimal(0) < share <= Decimal(1):
        raise ValueError(f"代缴比例须在0到1之间：{value}")
    return share


def merge_rules(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A county override laid over its parent's rules: tables merge by key, the rest replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_rules(merged[key], value)
        else:
            merged[key] = value
    return merged
