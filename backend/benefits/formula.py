"""The monthly pension as pure arithmetic over one rule version (DOMAIN.md §5). No database.

Pension = basic pension (national minimum + local top-up for the month) + long-contribution
bonus + account balance ÷ divisor. Every part is integer fen; the account pension is the
only division and is rounded half up once (``rules.account_pension_monthly``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from backend.policy.rules import LongContributionBonus, PolicyRules, account_pension_monthly


@dataclass(frozen=True)
class PensionParts:
    """One month's pension, part by part, and the policy version that gave every part."""

    policy_version_id: int
    minimum_fen: int  # national minimum basic pension for the month
    topup_fen: int  # provincial/county top-up of the basic pension
    bonus_fen: int  # long-contribution bonus
    account_fen: int  # account pension: balance ÷ divisor
    contribution_years: int
    balance_fen: int
    divisor: int

    @property
    def basic_fen(self) -> int:
        """What government funds pay: minimum, top-up and bonus."""
        return self.minimum_fen + self.topup_fen + self.bonus_fen

    @property
    def total_fen(self) -> int:
        """The monthly pension."""
        return self.basic_fen + self.account_fen


def long_contribution_bonus(bonus: LongContributionBonus | None, contribution_years: int) -> int:
    """Monthly bonus: ``per_year`` for each year up to the threshold, ``beyond`` for the rest."""
    if bonus is None or contribution_years <= 0:
        return 0
    within = min(contribution_years, bonus.threshold_years)
    beyond = max(contribution_years - bonus.threshold_years, 0)
    return within * bonus.per_year_fen + beyond * bonus.beyond_per_year_fen


def monthly_pension(
    rules: PolicyRules,
    *,
    policy_version_id: int,
    month: dt.date,
    contribution_years: int,
    balance_fen: int,
) -> PensionParts:
    """The pension of ``month`` (its first day) for a balance and count of contribution years.

    The balance is the one fixed when payment started; a negative balance (never expected)
    pays no account pension rather than reducing the basic pension.
    """
    return PensionParts(
        policy_version_id=policy_version_id,
        minimum_fen=rules.basic_pension_minimum_on(month),
        topup_fen=rules.basic_pension_topup_fen,
        bonus_fen=long_contribution_bonus(rules.long_contribution_bonus, contribution_years),
        account_fen=account_pension_monthly(rules, max(balance_fen, 0)),
        contribution_years=contribution_years,
        balance_fen=balance_fen,
        divisor=rules.account_divisor,
    )


def first_of_month(day: dt.date) -> dt.date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    """The first of the month ``count`` months after ``month`` (negative goes back)."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start``'s month up to (not including) ``end``'s month."""
    return (end.year - start.year) * 12 + end.month - start.month


def split_by_source(amount_fen: int, balances: dict[str, int]) -> dict[str, int]:
    """Split a monthly draw over the account's sources in proportion to their balances.

    Each source gets the floor of its share; the fen left over go one each to the largest
    remainders (ties: the larger balance, then the source name), so the parts always add up.
    """
    positive = {source: bal for source, bal in balances.items() if bal > 0}
    total = sum(positive.values())
    if amount_fen <= 0 or total <= 0:
        return {}
    parts = {source: amount_fen * bal // total for source, bal in positive.items()}
    left = amount_fen - sum(parts.values())
    order = sorted(positive, key=lambda s: (-(amount_fen * positive[s] % total), -positive[s], s))
    for source in order[:left]:
        parts[source] += 1
    return {source: part for source, part in parts.items() if part}
