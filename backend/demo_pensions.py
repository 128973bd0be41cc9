"""The demo's pensioners (DOMAIN.md §5): make-up years, applications, approvals, one computation.

Residents of the seeded county who are 60 by the application day make up at the counter
(补缴) the years they lack until they have 15, apply with a clerk and are approved by a
reviewer (maker-checker). Fixed dates and one seeded random generator: the same story on
every run. ``demo_payroll`` carries on with their payroll; ``demo`` composes both.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.models import Account, AccountEntry
from backend.audit.service import Actor
from backend.benefits import applications
from backend.benefits import service as benefits
from backend.benefits.models import Pension
from backend.contributions import service as contrib
from backend.contributions.demo import DEMO_BANK
from backend.contributions.models import Assessment
from backend.db import unit_of_work
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from backend.policy.models import PolicyVersion
from backend.policy.rules import fen_to_yuan
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person

MAKE_UP_ON = dt.date(2026, 5, 12)  # the counter visit: missing years paid (补缴)
APPLIED_ON = dt.date(2026, 5, 20)  # applications; 60 by this day qualifies
# Born on or before this day the resident was already 60 when the county was seeded
# (2025-07-01) and the seed enrolled them as receiving: not candidates for a new award.
BORN_AFTER = dt.date(1965, 7, 1)
MAX_PENSIONERS = 30
MAKE_UP_GRADES_FEN = (20000, 30000, 50000)

Echo = Callable[[str], None]


def width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def left(text: str, columns: int) -> str:
    """``text`` padded on the right to ``columns`` terminal columns."""
    return text + " " * max(columns - width(text), 0)


def yuan(fen: int, columns: int = 12) -> str:
    """An amount in yuan with two decimals, right-aligned, with its unit."""
    return f"{fen_to_yuan(fen):>{columns}} 元"


def row(label: str, fen: int, note: str = "") -> str:
    """One aligned line of a breakdown: label, amount, optional note."""
    return f"    {left(label, 34)}{yuan(fen)}" + (f"  {note}" if note else "")


@dataclass
class Cast:
    """The operators of the story, as principals."""

    clerk: Principal
    reviewer: Principal
    approver: Principal

    @staticmethod
    def load(session: Session) -> Cast:
        """clerk_county makes, reviewer_county checks, admin_county approves payrolls."""
        return Cast(
            principal(session, "clerk_county"),
            principal(session, "reviewer_county"),
            principal(session, "admin_county"),
        )


def principal(session: Session, username: str) -> Principal:
    """A demo operator acting in the story."""
    operator = session.scalar(select(Operator).where(Operator.username == username))
    assert operator is not None, f"demo operator {username} missing"
    return Principal.of(operator, Actor(operator_id=operator.id, username=username, device="demo"))


def full_name(session: Session, p: Principal) -> str:
    """An operator's name."""
    return session.get_one(Operator, p.operator_id).full_name


def _candidates(session: Session, county: str) -> list[Person]:
    """Paying residents of the county who are 60 by the application day (oldest id first)."""
    sixty = APPLIED_ON.replace(year=APPLIED_ON.year - 60)
    return list(
        session.scalars(
            select(Person)
            .join(Enrolment, Enrolment.person_id == Person.id)
            .where(
                Person.county_code == county,
                Enrolment.status == EnrolmentStatus.PAYING.value,
                Person.birth_date > BORN_AFTER,
                Person.birth_date <= sixty,
                Person.in_employee_scheme.is_(False),
                Person.is_civil_servant.is_(False),
                # Accounts that earned interest are left out: a second monthly draw in one
                # year from the interest source trips the once-a-year interest index (a
                # payroll defect reported with tests/backend/test_pension_ledger_property.py).
                ~select(AccountEntry.id)
                .join(Account, Account.id == AccountEntry.account_id)
                .where(Account.person_id == Person.id, AccountEntry.source == "interest")
                .exists(),
            )
            .order_by(Person.id)
            .limit(MAX_PENSIONERS)
        )
    )


def _make_up(session: Session, clerk: Principal, person: Person, rng: random.Random) -> int:
    """Pay what is open and make up missing years at the counter until 15; years made up."""
    assessments = list(session.scalars(select(Assessment).where(Assessment.person_id == person.id)))
    for assessment in assessments:
        if assessment.paid_fen < assessment.own_due_fen:
            contrib.collect(
                session=session, principal=clerk, assessment_id=assessment.id, on=MAKE_UP_ON
            )
    have = {a.year for a in assessments}
    grade = rng.choice(MAKE_UP_GRADES_FEN)
    made_up = 0
    year = MAKE_UP_ON.year - 1
    while len(have) < 15 and year >= 2010:
        if year not in have:
            assessment = contrib.assess(
                session=session,
                principal=clerk,
                person_id=person.id,
                year=year,
                grade_fen=grade,
                today=MAKE_UP_ON,
            )
            contrib.collect(
                session=session, principal=clerk, assessment_id=assessment.id, on=MAKE_UP_ON
            )
            have.add(year)
            made_up += 1
        year -= 1
    return made_up


def _not_qualified(session: Session, clerk: Principal, county: str, echo: Echo) -> None:
    """One resident a year too young, checked: every reason is named."""
    person = session.scalar(
        select(Person)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(
            Person.county_code == county,
            Enrolment.status == EnrolmentStatus.PAYING.value,
            Person.birth_date > APPLIED_ON.replace(year=APPLIED_ON.year - 60),
            Person.birth_date <= APPLIED_ON.replace(year=APPLIED_ON.year - 59),
        )
        .order_by(Person.id)
        .limit(1)
    )
    if person is None:
        return
    result = benefits.check(session=session, principal=clerk, person_id=person.id, on=APPLIED_ON)
    reasons = "；".join(r.message for r in result.reasons) or "符合条件"
    echo(f"  资格审核示例：{person.name}（{person.birth_date}生）不符合：{reasons}")


def award_pensions(
    *, factory: sessionmaker[Session], county: str, rng: random.Random, echo: Echo
) -> list[int]:
    """Make-up payments, applications (clerk) and approvals (reviewer); the pension ids."""
    with unit_of_work(factory) as session:
        cast = Cast.load(session)
        candidates = _candidates(session, county)
        made_up = [_make_up(session, cast.clerk, person, rng) for person in candidates]
        candidate_ids = [person.id for person in candidates]
        _not_qualified(session, cast.clerk, county, echo)
        clerk, reviewer = full_name(session, cast.clerk), full_name(session, cast.reviewer)
    echo(
        f"  满60周岁的参保人 {len(candidates)} 人；其中 {sum(1 for m in made_up if m)} 人"
        f"在柜台补缴 {sum(made_up)} 个年度，累计缴费满15年"
    )
    with unit_of_work(factory) as session:
        for person_id in candidate_ids:
            application = applications.apply(
                session=session,
                principal=cast.clerk,
                person_id=person_id,
                applied_on=APPLIED_ON,
                bank_code=DEMO_BANK,
                bank_account=f"6231{person_id:015d}",
            )
            decided = applications.decide(
                session=session,
                principal=cast.reviewer,
                application_id=application.id,
                accept=True,
            )
            assert decided.status == benefits.ApplicationStatus.APPROVED
        pensions = list(
            session.scalars(
                select(Pension).where(Pension.person_id.in_(candidate_ids)).order_by(Pension.id)
            )
        )
        monthly = sum(p.monthly_fen for p in pensions)
        echo(
            f"  待遇申请 {len(candidates)} 件（经办 {clerk}），复核通过 {len(pensions)} 件"
            f"（复核 {reviewer}），月发放合计 {fen_to_yuan(monthly)} 元"
        )
        return [p.id for p in pensions]


def print_computation(*, session: Session, pension_id: int, month: dt.date, echo: Echo) -> None:
    """A pensioner's pension of ``month`` part by part, each with the version that gave it."""
    pension = session.get_one(Pension, pension_id)
    person = session.get_one(Person, pension.person_id)
    current = benefits.computation_for(session=session, pension_id=pension.id, month=month)
    version = session.get_one(PolicyVersion, current.policy_version_id)
    tag = f"政策版本 {version.id}"
    echo(
        f"  核定明细：{person.name}（{person.id_number}），自{pension.start_month:%Y-%m}起，"
        f"{month:%Y-%m}月领 {fen_to_yuan(current.total_fen)} 元"
    )
    echo(row("基础养老金（全国最低标准）", current.minimum_fen, tag))
    echo(row("基础养老金（县级加发）", current.topup_fen, tag))
    echo(row(f"长缴多得（缴费{current.contribution_years}年）", current.bonus_fen, tag))
    echo(
        row(
            f"个人账户养老金（{fen_to_yuan(current.balance_fen)}÷{current.divisor}）",
            current.account_fen,
            tag,
        )
    )
    echo(row("合计", current.total_fen))
    echo(f"    {tag}：{version.name}（{version.valid_from}起，区划 {version.region_prefix}）")
