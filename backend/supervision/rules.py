"""The supervision rules: each a set-based query over one county's operational data.

A rule reads the owners' tables directly (read-side), joins on surrogate ids and lookup
hashes only, and puts ids, dates and amounts in the evidence, never clear personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import extract, func, or_, select
from sqlalchemy.orm import Session

from backend.accounts.models import Account, AccountEntry
from backend.benefits.models import DeathCase, PayeeBankChange, Pension, SurvivalCertification
from backend.cards.models import Card
from backend.contributions.models import Assessment
from backend.orgs.models import Office, Operator
from backend.payroll.models import Payroll, PayrollLine
from backend.policy import service as policy
from backend.registry.models import Enrolment, Person
from backend.supervision.framework import Candidate, Rule
from backend.supervision.thresholds import Thresholds

DEAD_CARD_STATES = ("replaced", "cancelled", "spoiled")


def _known_deaths(county_code: str, as_of: dt.date) -> Any:
    """Death cases of the county known on ``as_of`` and not rejected (any source)."""
    return (
        select(
            DeathCase.id.label("death_case_id"),
            DeathCase.person_id,
            DeathCase.region_code,
            DeathCase.died_on,
            DeathCase.source,
            DeathCase.status,
        )
        .where(
            DeathCase.county_code == county_code,
            DeathCase.status != "rejected",
            DeathCase.died_on <= as_of,
        )
        .subquery()
    )


def paid_after_death(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """Pension paid for months after the month of a known death: the amount overpaid.

    Payroll lines carry the first day of the month they pay, so ``month > died_on`` is
    exactly "a month after the month of death" (a death on the 30th of June leaves June
    owed, July not). Lines kept back to recover an overpayment are no payment.
    """
    deaths = _known_deaths(county_code, as_of)
    rows = session.execute(
        select(
            deaths.c.person_id,
            deaths.c.death_case_id,
            deaths.c.region_code,
            deaths.c.died_on,
            deaths.c.source,
            deaths.c.status,
            PayrollLine.id,
            PayrollLine.pension_id,
            PayrollLine.month,
            PayrollLine.amount_fen,
        )
        .join(PayrollLine, PayrollLine.person_id == deaths.c.person_id)
        .where(
            PayrollLine.county_code == county_code,
            PayrollLine.month > deaths.c.died_on,
            PayrollLine.state == "paid",
            PayrollLine.kind != "recovery",
        )
        .order_by(deaths.c.person_id, PayrollLine.month, PayrollLine.id)
    ).all()
    by_person: dict[int, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    for person_id, lines in by_person.items():
        months = sorted({line.month for line in lines})
        if len(months) < thresholds.death_paid_min_months:
            continue
        first = lines[0]
        yield Candidate(
            subject_type="person",
            subject_id=person_id,
            region_code=first.region_code,
            evidence={
                "death_case_id": first.death_case_id,
                "died_on": first.died_on.isoformat(),
                "death_source": first.source,
                "death_case_status": first.status,
                "months_paid_after_death": [m.strftime("%Y-%m") for m in months],
                "payroll_lines": [
                    {
                        "id": line.id,
                        "pension_id": line.pension_id,
                        "month": line.month.strftime("%Y-%m"),
                        "amount_fen": line.amount_fen,
                    }
                    for line in lines
                ],
            },
            amount_fen=sum(line.amount_fen for line in lines),
        )


def dead_still_open(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """Dead for more than the threshold's days with an enrolment, a card or a balance still open.

    The amount at stake is the account balance not yet settled (inherited or retained).
    """
    deaths = _known_deaths(county_code, as_of)
    cutoff = as_of - dt.timedelta(days=thresholds.dead_open_after_days)
    long_dead = select(deaths).where(deaths.c.died_on < cutoff).subquery()
    open_items: dict[int, dict[str, Any]] = {}

    def item(row: Any) -> dict[str, Any]:
        return open_items.setdefault(
            row.person_id,
            {
                "death": row,
                "enrolments": [],
                "cards": [],
                "account": None,
            },
        )

    for row in session.execute(
        select(long_dead, Enrolment.id.label("enrolment_id"), Enrolment.status.label("e_status"))
        .join(Enrolment, Enrolment.person_id == long_dead.c.person_id)
        .where(Enrolment.status != "terminated")
        .order_by(Enrolment.id)
    ):
        item(row)["enrolments"].append({"id": row.enrolment_id, "status": row.e_status})
    for row in session.execute(
        select(long_dead, Card.id.label("card_id"), Card.state.label("card_state"))
        .join(Card, Card.person_id == long_dead.c.person_id)
        .where(Card.state.not_in(DEAD_CARD_STATES))
        .order_by(Card.id)
    ):
        item(row)["cards"].append({"id": row.card_id, "state": row.card_state})
    for row in session.execute(
        select(
            long_dead,
            Account.id.label("account_id"),
            func.sum(AccountEntry.amount_fen).label("balance_fen"),
        )
        .join(Account, Account.person_id == long_dead.c.person_id)
        .join(AccountEntry, AccountEntry.account_id == Account.id)
        .group_by(*long_dead.c, Account.id)
        .having(func.sum(AccountEntry.amount_fen) != 0)
    ):
        item(row)["account"] = {"id": row.account_id, "balance_fen": int(row.balance_fen)}
    for person_id in sorted(open_items):
        found = open_items[person_id]
        death = found["death"]
        account = found["account"]
        yield Candidate(
            subject_type="person",
            subject_id=person_id,
            region_code=death.region_code,
            evidence={
                "death_case_id": death.death_case_id,
                "died_on": death.died_on.isoformat(),
                "death_source": death.source,
                "open_enrolments": found["enrolments"],
                "live_cards": found["cards"],
                "account": account,
            },
            amount_fen=account["balance_fen"] if account else 0,
        )


def _back_pay_by_payroll(county_code: str) -> Any:
    """Back pay paid per (pension, payroll) in the county, with the payroll's sending time."""
    return (
        select(
            PayrollLine.pension_id,
            PayrollLine.person_id,
            PayrollLine.payroll_id,
            Payroll.sent_at,
            func.count(PayrollLine.id).label("line_count"),
            func.min(PayrollLine.month).label("first_month"),
            func.max(PayrollLine.month).label("last_month"),
            func.sum(PayrollLine.amount_fen).label("back_pay_fen"),
        )
        .join(Payroll, Payroll.id == PayrollLine.payroll_id)
        .where(
            PayrollLine.county_code == county_code,
            PayrollLine.kind == "back_pay",
            PayrollLine.state == "paid",
        )
        .group_by(
            PayrollLine.pension_id, PayrollLine.person_id, PayrollLine.payroll_id, Payroll.sent_at
        )
        .subquery()
    )


def _back_pay_evidence(row: Any) -> dict[str, Any]:
    return {
        "payroll_id": row.payroll_id,
        "months": [row.first_month.strftime("%Y-%m"), row.last_month.strftime("%Y-%m")],
        "line_count": row.line_count,
        "back_pay_fen": int(row.back_pay_fen),
    }


def back_pay_above_threshold(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """Back pay of one pension in one payroll above the threshold (the whole amount at stake)."""
    back_pay = _back_pay_by_payroll(county_code)
    for row in session.execute(
        select(back_pay, Pension.region_code)
        .join(Pension, Pension.id == back_pay.c.pension_id)
        .where(back_pay.c.back_pay_fen > thresholds.back_pay_fen)
        .order_by(back_pay.c.pension_id, back_pay.c.payroll_id)
    ):
        yield Candidate(
            subject_type="pension",
            subject_id=row.pension_id,
            region_code=row.region_code,
            evidence=_back_pay_evidence(row),
            amount_fen=int(row.back_pay_fen),
        )


def payee_changed_before_back_pay(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """A payee account changed (approved) within the threshold's days before a payroll sent
    back pay above the threshold to that pension: the money may follow the new account."""
    back_pay = _back_pay_by_payroll(county_code)
    window = dt.timedelta(days=thresholds.payee_change_days)
    rows = session.execute(
        select(
            back_pay,
            PayeeBankChange.id.label("change_id"),
            PayeeBankChange.region_code,
            PayeeBankChange.approved_at,
            PayeeBankChange.maker_id,
            PayeeBankChange.checker_id,
        )
        .join(PayeeBankChange, PayeeBankChange.pension_id == back_pay.c.pension_id)
        .where(
            PayeeBankChange.status == "approved",
            PayeeBankChange.approved_at <= back_pay.c.sent_at,
            back_pay.c.back_pay_fen > thresholds.back_pay_fen,
        )
        .order_by(back_pay.c.pension_id, back_pay.c.payroll_id, PayeeBankChange.id)
    ).all()
    for row in rows:
        # The window in Python: timestamp arithmetic differs between SQLite and PostgreSQL,
        # and only changes already joined to a large back payment reach here.
        if row.sent_at - row.approved_at > window:
            continue
        yield Candidate(
            subject_type="pension",
            subject_id=row.pension_id,
            region_code=row.region_code,
            evidence={
                **_back_pay_evidence(row),
                "payee_change_id": row.change_id,
                "approved_at": row.approved_at.isoformat(),
                "payroll_sent_at": row.sent_at.isoformat(),
                "maker_id": row.maker_id,
                "checker_id": row.checker_id,
            },
            amount_fen=int(row.back_pay_fen),
        )


def contribution_outside_age(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """Contributions paid for a year the person was under the minimum age all year, or for a
    year after the year the pension started (implausible records, issue 15 rule 5)."""
    birth_year = extract("year", Person.birth_date)
    start_year = extract("year", Pension.start_month)
    before_age = Assessment.year < birth_year + thresholds.min_contribution_age
    after_start = Pension.id.is_not(None) & (Assessment.year > start_year)
    rows = session.execute(
        select(
            Assessment.person_id,
            Assessment.id,
            Assessment.year,
            Assessment.paid_fen,
            Assessment.region_code,
            Person.birth_date,
            Pension.start_month,
            before_age.label("before_age"),
        )
        .join(Person, Person.id == Assessment.person_id)
        .outerjoin(Pension, Pension.person_id == Assessment.person_id)
        .where(Assessment.county_code == county_code, Assessment.paid_fen > 0)
        .where(or_(before_age, after_start))
        .order_by(Assessment.person_id, Assessment.year, Assessment.id)
    ).all()
    by_person: dict[int, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row.person_id, []).append(row)
    for person_id, years in by_person.items():
        first = years[0]
        yield Candidate(
            subject_type="person",
            subject_id=person_id,
            region_code=first.region_code,
            evidence={
                "birth_year": first.birth_date.year,
                "pension_start_month": (
                    first.start_month.strftime("%Y-%m") if first.start_month else None
                ),
                "assessments": [
                    {
                        "id": row.id,
                        "year": row.year,
                        "paid_fen": row.paid_fen,
                        "why": "under_min_age" if row.before_age else "after_pension_start",
                    }
                    for row in years
                ],
            },
            amount_fen=sum(row.paid_fen for row in years),
        )


def pension_before_age(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """A pension whose first month is not after the month the pension age was reached (the
    age of the policy version in force at the county in that first month); the amount at
    stake is what was paid for those early months."""
    start_months = session.scalars(
        select(Pension.start_month).where(Pension.county_code == county_code).distinct()
    ).all()
    months_by_age: dict[int, list[dt.date]] = {}
    for month in start_months:
        age = policy.rules_on(session=session, region_code=county_code, on=month).rules.pension_age
        months_by_age.setdefault(age, []).append(month)
    for age, months in sorted(months_by_age.items()):
        # Months counted as year * 12 + month: the birthday's month must be passed.
        birthday_month = (extract("year", Person.birth_date) + age) * 12 + extract(
            "month", Person.birth_date
        )
        early_line = (
            (PayrollLine.pension_id == Pension.id)
            & (PayrollLine.state == "paid")
            & (PayrollLine.kind != "recovery")
            & (
                extract("year", PayrollLine.month) * 12 + extract("month", PayrollLine.month)
                <= birthday_month
            )
        )
        for row in session.execute(
            select(
                Pension.id,
                Pension.region_code,
                Pension.start_month,
                Person.birth_date,
                func.coalesce(func.sum(PayrollLine.amount_fen), 0).label("early_fen"),
            )
            .join(Person, Person.id == Pension.person_id)
            .outerjoin(PayrollLine, early_line)
            .where(
                Pension.county_code == county_code,
                Pension.start_month.in_(months),
                extract("year", Pension.start_month) * 12 + extract("month", Pension.start_month)
                <= birthday_month,
            )
            .group_by(Pension.id, Pension.region_code, Pension.start_month, Person.birth_date)
            .order_by(Pension.id)
        ):
            yield Candidate(
                subject_type="pension",
                subject_id=row.id,
                region_code=row.region_code,
                evidence={
                    "birth_month": row.birth_date.strftime("%Y-%m"),
                    "pension_age": age,
                    "start_month": row.start_month.strftime("%Y-%m"),
                },
                amount_fen=int(row.early_fen),
            )


def operator_certifies_many(
    session: Session, county_code: str, as_of: dt.date, thresholds: Thresholds
) -> Iterator[Candidate]:
    """One operator certifying the survival of more people in one day than the threshold, up
    to the run date (kiosk devices are not counted yet). One finding per operator and day."""
    counted = (
        select(
            SurvivalCertification.operator_id,
            SurvivalCertification.certified_on,
            func.count(SurvivalCertification.id).label("certified"),
            func.min(SurvivalCertification.id).label("first_id"),
            func.max(SurvivalCertification.id).label("last_id"),
        )
        .where(
            SurvivalCertification.county_code == county_code,
            SurvivalCertification.operator_id.is_not(None),
            SurvivalCertification.certified_on <= as_of,
        )
        .group_by(SurvivalCertification.operator_id, SurvivalCertification.certified_on)
        .having(func.count(SurvivalCertification.id) > thresholds.certification_max)
        .subquery()
    )
    for row in session.execute(
        select(counted, Office.region_code)
        .join(Operator, Operator.id == counted.c.operator_id)
        .join(Office, Office.id == Operator.office_id)
        .order_by(counted.c.operator_id, counted.c.certified_on)
    ):
        yield Candidate(
            subject_type="operator",
            subject_id=row.operator_id,
            region_code=row.region_code,
            evidence={
                "certified_on": row.certified_on.isoformat(),
                "certified": row.certified,
                "first_and_last_certification_id": [row.first_id, row.last_id],
            },
            amount_fen=0,
        )


RULES: tuple[Rule, ...] = (
    Rule("paid_after_death", 1, "死亡后仍发放养老金", paid_after_death),
    Rule("dead_still_open", 1, "死亡超过期限仍未注销参保、账户或社保卡", dead_still_open),
    Rule(
        "contribution_outside_age", 1, "未到缴费年龄或领取养老金后仍缴费", contribution_outside_age
    ),
    Rule("pension_before_age", 1, "未到领取年龄即开始领取养老金", pension_before_age),
    Rule("operator_certifies_many", 1, "同一经办员短期内认证人数异常", operator_certifies_many),
    Rule("back_pay_above_threshold", 1, "一次补发金额超过阈值", back_pay_above_threshold),
    Rule(
        "payee_changed_before_back_pay",
        1,
        "补发前不久变更收款账户",
        payee_changed_before_back_pay,
    ),
)
BY_NAME = {rule.name: rule for rule in RULES}
