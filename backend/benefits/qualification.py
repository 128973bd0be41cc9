"""Who qualifies for the pension at 60 (DOMAIN.md §5): pure rules, no database.

``qualify`` returns every reason a person does not qualify, each naming its rule, so staff
see them all at once. The transitional rules of the scheme start (2009 pilot, 国发〔2009〕32号):
people already at the pension age when the scheme began need no contributions but their
eligible children must be enrolled (捆绑); people with fewer than the minimum years left must
have paid every year since the start (and may make up the rest); everyone else needs the
minimum number of contribution years (15).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from backend.benefits.formula import add_months, first_of_month
from backend.policy.rules import PolicyRules


@dataclass(frozen=True)
class Facts:
    """What the rules look at, gathered by the service from the registry and the accounts."""

    birth_date: dt.date
    has_household_register: bool  # the 户籍 is in the province's region tree
    receives_other_state_pension: bool  # employee scheme or civil-service pension
    contribution_years: int  # settled contribution years, make-up included
    scheme_start: dt.date  # when the scheme began in the person's county
    # True/False when the person was at pension age at scheme start; None otherwise.
    children_enrolled: bool | None = None


@dataclass(frozen=True)
class Reason:
    """Why a person does not qualify: the rule's stable name and a message for staff."""

    rule: str
    message: str


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Age in whole years on ``on``."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def birthday_at(birth_date: dt.date, age: int) -> dt.date:
    """The day of reaching ``age`` (29 February births reach it on 1 March)."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return dt.date(birth_date.year + age, 3, 1)


def required_years(rules: PolicyRules, birth_date: dt.date, scheme_start: dt.date) -> int:
    """Contribution years the person needs: 0, the years left at scheme start, or the minimum."""
    age_at_start = age_on(birth_date, scheme_start)
    years_left = rules.pension_age - age_at_start
    if years_left <= 0:
        return 0
    return min(years_left, rules.min_contribution_years)


def qualify(rules: PolicyRules, facts: Facts, on: dt.date) -> list[Reason]:
    """Every reason ``facts`` do not qualify on ``on`` under ``rules`` (empty when they do)."""
    reasons: list[Reason] = []
    age = age_on(facts.birth_date, on)
    if age < rules.pension_age:
        reasons.append(Reason("pension_age", f"未满{rules.pension_age}周岁（{on}时{age}周岁）"))
    if not facts.has_household_register:
        reasons.append(Reason("household_register", "户籍不在本省，不能在本地领取"))
    if facts.receives_other_state_pension:
        reasons.append(
            Reason("other_state_pension", "已享受城镇职工基本养老保险或其他国家规定的基本养老保障")
        )
    needed = required_years(rules, facts.birth_date, facts.scheme_start)
    if needed == 0:
        if facts.children_enrolled is False:
            reasons.append(
                Reason(
                    "children_enrolled",
                    "制度实施时已满领取年龄，须其符合参保条件的子女按规定参保缴费（捆绑）",
                )
            )
    elif facts.contribution_years < needed:
        rule = "min_contribution_years" if needed == rules.min_contribution_years else "pay_yearly"
        hint = (
            ""
            if rule == "min_contribution_years"
            else "（制度实施时距领取年龄不足15年，须逐年缴费，可补缴）"
        )
        reasons.append(Reason(rule, f"累计缴费{facts.contribution_years}年，不足{needed}年{hint}"))
    return reasons


def start_month(rules: PolicyRules, birth_date: dt.date, applied_on: dt.date) -> dt.date:
    """The first month paid: the month after reaching the pension age, not before the application.

    Later applications start from the application's month: months before it are not paid
    back (the person had not asked), which is how most counties apply the 2014 rules.
    """
    after_birthday = add_months(first_of_month(birthday_at(birth_date, rules.pension_age)), 1)
    return max(after_birthday, first_of_month(applied_on))
