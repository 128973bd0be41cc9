"""What the annual statement and the contribution certificate say, from the books.

Read-side: the account's entries (``accounts``), the interest rate and convention in
force (``policy``), the pension paid in the year (``payroll``), the contribution years
(``contributions`` assessments, via ``benefits``). Each document carries the receipt of
its fact (``receipts.issue_for_fact``: a signed token for its QR code, audited), the same
on a reprint while the account has not changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.accounts.models import Account
from backend.audit.service import Actor
from backend.benefits.service import account_balance, contribution_years
from backend.config import Settings
from backend.contributions.models import Assessment
from backend.db import utcnow
from backend.errors import NotFound, invalid
from backend.orgs.models import Operator, Region
from backend.orgs.service import Principal
from backend.payroll.models import PayrollLine
from backend.policy import service as policy
from backend.policy.rules import InterestConvention
from backend.receipts.service import account_fact, issue_for_fact
from backend.receipts.service import issue as issue_receipt
from backend.registry.models import Enrolment, Person
from backend.registry.service import get_person
from receipts import ReceiptKind

#: The interest conventions in words, as the statement prints them.
CONVENTION_LABELS = {
    InterestConvention.MONTHS_REMAINING: (
        "年初余额按全年计息，当年记账金额按记账次月起至年末的整月数计息，年末一次结息，四舍五入到分"
    ),
    InterestConvention.OPENING_ONLY: "仅年初余额计息，当年记账金额自次年起计息，四舍五入到分",
}


@dataclass(frozen=True)
class Issue:
    """Who issued a document, when, under which receipt number and token."""

    receipt_number: str
    token: str
    issued_at: dt.datetime
    office: str
    operator: str


@dataclass(frozen=True)
class PensionMonth:
    """One month of pension paid in the statement year."""

    month: dt.date
    amount_fen: int


@dataclass(frozen=True)
class AnnualStatement:
    """个人账户对账单 of one year."""

    statement: accounts.Statement
    region_name: str
    interest_rate: Decimal | None
    interest_convention: InterestConvention | None
    pension_months: list[PensionMonth]
    issue: Issue

    @property
    def pension_paid_fen(self) -> int:
        """Pension paid in the year, in fen."""
        return sum(m.amount_fen for m in self.pension_months)


@dataclass(frozen=True)
class ContributionYear:
    """One contribution year on the certificate."""

    year: int
    grade_fen: int
    own_paid_fen: int
    subsidy_fen: int
    hardship_paid_fen: int
    make_up: bool


@dataclass(frozen=True)
class ContributionCertificate:
    """缴费证明: enrolment, each settled year, years in all, the account balance."""

    person_id: int
    name: str
    id_number: str
    region_name: str
    enrolled_on: dt.date | None
    enrolment_status: str | None
    years: list[ContributionYear]
    years_counted: int
    balance_fen: int
    issue: Issue


def _region_name(session: Session, code: str) -> str:
    """The region's name with its county, e.g. 和布克赛尔蒙古自治县夏孜盖乡."""
    names = []
    for prefix in (code[:6].ljust(12, "0"), code[:9].ljust(12, "0"), code):
        name = session.scalar(select(Region.name).where(Region.code == prefix))
        if name and name not in names:
            names.append(name)
    return "".join(names) or code


def _issue(
    *,
    session: Session,
    settings: Settings,
    principal: Principal,
    kind: ReceiptKind,
    person: Person,
    year: int | None = None,
) -> Issue:
    """The document's receipt: signed once per state of the account (a reprint of the same
    document keeps its number), audited by the receipts domain; printed now, by whom."""
    receipt, _ = issue_for_fact(
        session=session,
        settings=settings,
        principal=principal,
        kind=kind,
        fact_id=person.id,
        year=year,
    )
    operator = session.get(Operator, principal.operator_id)
    assert operator is not None  # the principal was loaded from it
    return Issue(
        receipt_number=receipt.receipt_number,
        token=receipt.token,
        issued_at=utcnow(),
        office=operator.office.name,
        operator=operator.full_name,
    )


def annual_statement(
    *,
    session: Session,
    settings: Settings,
    principal: Principal,
    person_id: int,
    year: int,
    today: dt.date | None = None,
) -> AnnualStatement:
    """The statement of a person and a past or current year, issued and audited."""
    today = today or dt.date.today()
    _check_year(year, today)
    person = get_person(session=session, principal=principal, person_id=person_id)
    statement = accounts.build_statement(session=session, person=person, year=year)
    return _annual(
        session=session,
        person=person,
        statement=statement,
        today=today,
        issue=lambda: _issue(
            session=session,
            settings=settings,
            principal=principal,
            kind=ReceiptKind.ACCOUNT_STATEMENT,
            person=person,
            year=year,
        ),
    )


#: Who "printed" a statement the resident downloaded from the 12333 web query.
SELF_SERVICE_OFFICE = "12333网上查询"
SELF_SERVICE_OPERATOR = "本人下载"


def resident_annual_statement(
    *,
    session: Session,
    settings: Settings,
    person: Person,
    year: int,
    actor: Actor,
    today: dt.date | None = None,
) -> AnnualStatement:
    """The statement the resident signed in to the 12333 web query downloads: the same
    document, its receipt issued to no operator and audited with the resident's actor."""
    today = today or dt.date.today()
    _check_year(year, today)
    statement = accounts.build_statement(session=session, person=person, year=year)

    def issue() -> Issue:
        receipt, _ = issue_receipt(
            session=session,
            settings=settings,
            fact=account_fact(
                session=session, person=person, kind=ReceiptKind.ACCOUNT_STATEMENT, year=year
            ),
            actor=actor,
            operator_id=None,
        )
        return Issue(
            receipt_number=receipt.receipt_number,
            token=receipt.token,
            issued_at=utcnow(),
            office=SELF_SERVICE_OFFICE,
            operator=SELF_SERVICE_OPERATOR,
        )

    return _annual(session=session, person=person, statement=statement, today=today, issue=issue)


def _check_year(year: int, today: dt.date) -> None:
    if year > today.year:
        raise invalid("year", f"年度不能晚于{today.year}年", "future_year")


def _annual(
    *,
    session: Session,
    person: Person,
    statement: accounts.Statement,
    today: dt.date,
    issue: Callable[[], Issue],
) -> AnnualStatement:
    """The statement's figures beside the books (the rate and convention, the pension paid),
    then its receipt: issuing audits, which on PostgreSQL holds the audit chain's head until
    the commit, so it comes last."""
    year = statement.year
    account = session.scalar(select(Account).where(Account.person_id == person.id))
    assert account is not None  # build_statement found it
    resolved = policy.rules_on(
        session=session,
        region_code=account.county_code.ljust(12, "0"),
        on=min(dt.date(year, 12, 31), today),
    )
    rates = resolved.rules.interest_rates
    pension = session.execute(
        select(PayrollLine.month, func.sum(PayrollLine.amount_fen))
        .where(
            PayrollLine.person_id == person.id,
            PayrollLine.state == "paid",
            PayrollLine.month >= dt.date(year, 1, 1),
            PayrollLine.month < dt.date(year + 1, 1, 1),
        )
        .group_by(PayrollLine.month)
        .order_by(PayrollLine.month)
    ).all()
    return AnnualStatement(
        statement=statement,
        region_name=_region_name(session, person.hukou_region_code),
        interest_rate=rates.get(year),
        interest_convention=resolved.rules.interest_convention,
        pension_months=[PensionMonth(month, int(amount)) for month, amount in pension],
        issue=issue(),
    )


def contribution_certificate(
    *,
    session: Session,
    settings: Settings,
    principal: Principal,
    person_id: int,
) -> ContributionCertificate:
    """The certificate of a person's contributions to date, issued and audited."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    assessments = session.scalars(
        select(Assessment)
        .where(Assessment.person_id == person.id, Assessment.settled.is_(True))
        .order_by(Assessment.year)
    ).all()
    if not assessments:
        raise NotFound(detail=f"{person.name}没有已到账的缴费年度", code="no_contributions")
    enrolment = session.scalar(
        select(Enrolment)
        .where(Enrolment.person_id == person.id)
        .order_by(Enrolment.enrolled_on.desc())
        .limit(1)
    )
    _, balance = account_balance(session=session, person_id=person.id)
    years = contribution_years(session=session, person_id=person.id)
    issue = _issue(
        session=session,
        settings=settings,
        principal=principal,
        kind=ReceiptKind.CONTRIBUTION_CERTIFICATE,
        person=person,
    )
    return ContributionCertificate(
        person_id=person.id,
        name=person.name,
        id_number=person.id_number,
        region_name=_region_name(session, person.hukou_region_code),
        enrolled_on=enrolment.enrolled_on if enrolment else None,
        enrolment_status=enrolment.status if enrolment else None,
        years=[
            ContributionYear(
                year=a.year,
                grade_fen=a.grade_fen,
                own_paid_fen=a.paid_fen,
                subsidy_fen=a.government_subsidy_fen + a.collective_fen + a.donation_fen,
                hardship_paid_fen=a.hardship_paid_fen,
                make_up=a.is_make_up,
            )
            for a in assessments
        ],
        years_counted=years,
        balance_fen=balance,
        issue=issue,
    )
