"""Query passwords (set at the counter, Argon2id, lockout) and what 12333 tells a resident.

``set_password`` is the counter's side: an operator of the resident's scope sets or
replaces the six-digit query password; the failure count and any lockout start afresh.
``identify`` is the phone's side: an ID number and a password give the resident's
:class:`Facts`, or ``None`` — the same ``None``, after the same work, for an unknown ID
number, a person without a password, a wrong password and a locked one; the audit record
names the real reason. ``facts`` reads what the resident may hear about their own records.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts.models import SOURCE_LABELS, Account, Source
from backend.accounts.service import balances_by_source
from backend.audit.service import Actor, record
from backend.auth.service import count_failure, hash_secret, verify_secret
from backend.benefits.models import Pension
from backend.config import Settings
from backend.contributions.models import Assessment, Collection
from backend.db import utcnow
from backend.errors import invalid
from backend.keys.fields import lookup
from backend.orgs.service import Principal
from backend.payroll.models import PayrollLine
from backend.query.models import QueryPassword
from backend.registry.models import Person
from backend.registry.service import get_person

PASSWORD_LENGTH = 6


def check_password_policy(password: str, person: Person) -> None:
    """Six digits; not one digit repeated, not a run (123456, 654321), not from the ID number."""
    if not (len(password) == PASSWORD_LENGTH and password.isascii() and password.isdigit()):
        raise invalid("password", "查询密码须为6位数字", "query_password_format")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(password)}
    if steps in ({0}, {1}, {-1}):
        raise invalid("password", "查询密码不能是同一数字或连续数字，请另选", "query_password_weak")
    if password in person.id_number:
        raise invalid(
            "password", "查询密码不能取自身份证号码（如出生日期），请另选", "query_password_weak"
        )


def set_password(
    *, session: Session, principal: Principal, person_id: int, password: str
) -> QueryPassword:
    """Set or replace the query password of a person of the operator's scope, audited."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    check_password_policy(password, person)
    row = session.scalar(select(QueryPassword).where(QueryPassword.person_id == person.id))
    replaced = row is not None
    if row is None:
        row = QueryPassword(person_id=person.id)
        session.add(row)
    row.password_hash = hash_secret(password)
    row.set_by = principal.operator_id
    row.set_at = utcnow()
    row.failures = 0
    row.locked_until = None
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="query.password_set",
        object_type="person",
        object_id=person.id,
        detail={"replaced": replaced},
    )
    return row


def password_status(
    *, session: Session, principal: Principal, person_id: int
) -> QueryPassword | None:
    """The person's query password row (set when, locked until), or None when none was set."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    return session.scalar(select(QueryPassword).where(QueryPassword.person_id == person.id))


def identify(
    *,
    session: Session,
    settings: Settings,
    id_number: str,
    password: str,
    actor: Actor,
    today: dt.date | None = None,
) -> Facts | None:
    """The resident's facts when the ID number and query password match and are not locked.

    The caller commits whatever the answer: the failure count and the audit record are part
    of it. ``settings.login_max_failures`` wrong tries in a row lock the password for
    ``settings.lockout_minutes``.
    """
    person = session.scalar(
        select(Person).where(Person.id_number_hash == lookup("id_number", id_number))
    )
    row = (
        session.scalar(select(QueryPassword).where(QueryPassword.person_id == person.id))
        if person is not None
        else None
    )
    matches = verify_secret(row.password_hash if row else None, password)
    reason = None
    if person is None:
        reason = "unknown_person"
    elif row is None:
        reason = "no_password"
    elif row.locked_until is not None and row.locked_until > utcnow():
        reason = "locked"
    elif not matches:
        reason = "bad_password"
    detail: dict[str, object] = {"channel": "ivr"}
    if reason is not None:
        detail["reason"] = reason
        if reason == "bad_password" and row is not None:
            detail.update(
                count_failure(
                    session,
                    settings,
                    failures=QueryPassword.failures,
                    locked_until=QueryPassword.locked_until,
                    row_id=row.id,
                )
            )
            session.expire(row, ["failures", "locked_until"])
        record_refusal(
            session=session, actor=actor, action="query.identify", person=person, detail=detail
        )
        return None
    assert person is not None and row is not None
    row.failures = 0
    row.locked_until = None
    found = facts(session=session, person=person, today=today or dt.date.today())
    record(
        session=session,
        actor=actor,
        action="query.identify",
        object_type="person",
        object_id=person.id,
        detail=detail,
    )
    return found


def record_refusal(
    *,
    session: Session,
    actor: Actor,
    action: str,
    person: Person | None,
    detail: dict[str, object],
) -> None:
    """Audit a refused identification with its real reason (the caller was told nothing)."""
    record(
        session=session,
        actor=actor,
        action=action,
        object_type="person" if person else None,
        object_id=person.id if person else None,
        result="denied",
        detail=detail,
    )


@dataclass(frozen=True)
class LastContribution:
    """The latest cash taken for the resident's contributions."""

    collected_on: dt.date
    year: int
    amount_fen: int


@dataclass(frozen=True)
class MonthPension:
    """The pension of one month: what was paid, and whether a payment failed."""

    month: dt.date
    paid_fen: int
    failed: bool
    pending: bool


@dataclass(frozen=True)
class Certification:
    """Survival certification: by when the next is due, and whether payment is suspended."""

    due_on: dt.date | None
    overdue: bool
    suspended: bool


@dataclass(frozen=True)
class Facts:
    """What 12333 may tell a resident about their own records."""

    person_id: int
    name: str
    balance_fen: int
    balance_by_source: dict[str, int]
    last_contribution: LastContribution | None
    pension: MonthPension | None
    certification: Certification | None
    receives_pension: bool


def facts(*, session: Session, person: Person, today: dt.date) -> Facts:
    """The resident's balance by source, last contribution, this month's pension, certification."""
    account_id = session.scalar(select(Account.id).where(Account.person_id == person.id))
    by_source = balances_by_source(session=session, account_id=account_id) if account_id else {}
    last = session.execute(
        select(Collection.collected_on, Assessment.year, Collection.amount_fen)
        .join(Assessment, Assessment.id == Collection.assessment_id)
        .where(Assessment.person_id == person.id, Collection.reverses_id.is_(None))
        .order_by(Collection.collected_on.desc(), Collection.id.desc())
        .limit(1)
    ).first()
    pension = session.scalar(select(Pension).where(Pension.person_id == person.id))
    month_pension = None
    certification = None
    if pension is not None:
        month = today.replace(day=1)
        states = dict(
            session.execute(
                select(PayrollLine.state, func.sum(PayrollLine.amount_fen))
                .where(PayrollLine.pension_id == pension.id, PayrollLine.month == month)
                .group_by(PayrollLine.state)
            ).all()
        )
        month_pension = MonthPension(
            month=month,
            paid_fen=int(states.get("paid") or 0),
            failed="failed" in states,
            pending="built" in states or "unknown" in states,
        )
        certification = Certification(
            due_on=pension.certified_until,
            overdue=pension.certified_until is not None and pension.certified_until < today,
            suspended=pension.status == "suspended",
        )
    return Facts(
        person_id=person.id,
        name=person.name,
        balance_fen=sum(by_source.values()),
        balance_by_source=by_source,
        last_contribution=LastContribution(*last) if last else None,
        pension=month_pension,
        certification=certification,
        receives_pension=pension is not None and pension.status == "receiving",
    )


def source_label(source: str) -> str:
    """A source of money in the account, in words."""
    return SOURCE_LABELS[Source(source)]


@dataclass(frozen=True)
class YearContribution:
    """One contribution year as the resident sees it."""

    year: int
    grade_fen: int
    paid_fen: int
    subsidy_fen: int
    settled: bool


@dataclass(frozen=True)
class Payment:
    """One pension payment line: the month it is for, the amount, paid or failed."""

    month: dt.date
    amount_fen: int
    state: str


def contributions_by_year(*, session: Session, person_id: int) -> list[YearContribution]:
    """Every contribution year of the person, newest first."""
    rows = session.scalars(
        select(Assessment).where(Assessment.person_id == person_id).order_by(Assessment.year.desc())
    )
    return [
        YearContribution(
            year=a.year,
            grade_fen=a.grade_fen,
            paid_fen=a.paid_fen,
            subsidy_fen=a.government_subsidy_fen + a.collective_fen + a.donation_fen,
            settled=a.settled,
        )
        for a in rows
    ]


def pension_payments(*, session: Session, person_id: int, limit: int = 24) -> list[Payment]:
    """The person's latest pension payment lines, newest first."""
    rows = session.execute(
        select(PayrollLine.month, PayrollLine.amount_fen, PayrollLine.state)
        .where(PayrollLine.person_id == person_id)
        .order_by(PayrollLine.month.desc(), PayrollLine.id.desc())
        .limit(limit)
    ).all()
    return [Payment(month, int(amount), state) for month, amount, state in rows]


def statement_years(*, session: Session, person_id: int, today: dt.date) -> list[int]:
    """The years a statement can be had for: from the account's opening to this year."""
    opened = session.scalar(select(Account.opened_on).where(Account.person_id == person_id))
    if opened is None:
        return []
    return list(range(today.year, opened.year - 1, -1))
