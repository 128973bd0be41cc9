"""Qualification checks, the pensioner's record and its computations.

The facts come from the registry (birth date, household register, other pensions, the
household's children), the contributions (settled years) and the account (balance); the
rules come from the policy version in force at the person's region on the start month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from backend.accounts.models import Account, AccountEntry
from backend.benefits.formula import PensionParts, monthly_pension
from backend.benefits.models import Computation, Pension
from backend.benefits.qualification import Facts, Reason, age_on, qualify, start_month
from backend.contributions.models import Assessment
from backend.errors import NoPolicyVersion, NotFound
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll.models import PayrollCounty
from backend.policy import service as policy
from backend.policy.models import PolicyVersion
from backend.registry.models import Enrolment, Person
from backend.registry.service import get_person
from backend.transfers.models import EmployeeSchemeYear


class ApplicationStatus:
    """Application states."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class PensionStatus:
    """Pension states."""

    RECEIVING = "receiving"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Check:
    """A qualification check: the facts, the reasons (empty = qualifies) and the pension."""

    person: Person
    facts: Facts
    reasons: list[Reason]
    start_month: dt.date
    parts: PensionParts


def scheme_start(*, session: Session, region_code: str) -> dt.date:
    """When the scheme began at a region: the first active policy version covering it."""
    prefixes = [region_code[:6], region_code[:2], ""]
    start = session.scalar(
        select(func.min(PolicyVersion.valid_from)).where(
            PolicyVersion.region_prefix.in_(prefixes),
            PolicyVersion.status == policy.Status.ACTIVE,
        )
    )
    if start is None:
        raise NoPolicyVersion(
            detail=f"区划{region_code}没有生效的政策版本", extra={"region_code": region_code}
        )
    return start


def contribution_years(*, session: Session, person_id: int) -> int:
    """Settled contribution years (own part paid in full), make-up years included.

    Employee-scheme years moved in with the employee balance (衔接) count too; a year in
    both schemes counts once.
    """
    years = union(
        select(Assessment.year).where(
            Assessment.person_id == person_id, Assessment.settled.is_(True)
        ),
        select(EmployeeSchemeYear.year).where(
            EmployeeSchemeYear.person_id == person_id,
            EmployeeSchemeYear.transfer_in_id.is_not(None),
        ),
    ).subquery()
    return session.scalar(select(func.count()).select_from(years)) or 0


def account_balance(*, session: Session, person_id: int) -> tuple[int | None, int]:
    """The person's account id (None without an account) and its whole balance."""
    account_id = session.scalar(select(Account.id).where(Account.person_id == person_id))
    if account_id is None:
        return None, 0
    total = session.scalar(
        select(func.sum(AccountEntry.amount_fen)).where(AccountEntry.account_id == account_id)
    )
    return account_id, int(total or 0)


def _children_enrolled(session: Session, person: Person, start: dt.date, pension_age: int) -> bool:
    """Whether every household member of working age at scheme start is enrolled (捆绑)."""
    if person.household_id is None:
        return True
    members = session.scalars(
        select(Person).where(Person.household_id == person.household_id, Person.id != person.id)
    ).all()
    for member in members:
        if not 16 <= age_on(member.birth_date, start) < pension_age or member.is_student:
            continue
        if member.in_employee_scheme or member.is_civil_servant:
            continue
        if session.scalar(select(Enrolment.id).where(Enrolment.person_id == member.id)) is None:
            return False
    return True


def check_person(*, session: Session, person: Person, on: dt.date) -> Check:
    """Qualification of ``person`` on ``on`` and the pension they would get from the start month."""
    start = scheme_start(session=session, region_code=person.hukou_region_code)
    first_month = start_month(
        policy.rules_on(session=session, region_code=person.hukou_region_code, on=on).rules,
        person.birth_date,
        on,
    )
    resolved = policy.rules_on(
        session=session, region_code=person.hukou_region_code, on=first_month
    )
    rules = resolved.rules
    years = contribution_years(session=session, person_id=person.id)
    _, balance = account_balance(session=session, person_id=person.id)
    at_age_at_start = age_on(person.birth_date, start) >= rules.pension_age
    facts = Facts(
        birth_date=person.birth_date,
        has_household_register=bool(person.hukou_region_code),
        receives_other_state_pension=person.in_employee_scheme or person.is_civil_servant,
        contribution_years=years,
        scheme_start=start,
        children_enrolled=_children_enrolled(session, person, start, rules.pension_age)
        if at_age_at_start
        else None,
    )
    parts = monthly_pension(
        rules,
        policy_version_id=resolved.version_id,
        month=first_month,
        contribution_years=years,
        balance_fen=balance,
    )
    return Check(person, facts, qualify(rules, facts, on), first_month, parts)


def check(*, session: Session, principal: Principal, person_id: int, on: dt.date) -> Check:
    """Qualification of a person in the operator's scope."""
    principal.require(Permission.BENEFIT_READ)
    person = get_person(session=session, principal=principal, person_id=person_id)
    return check_person(session=session, person=person, on=on)


def add_computation(
    *, session: Session, pension: Pension, month: dt.date, parts: PensionParts, cause: str = "award"
) -> Computation:
    """Store the pension from ``month`` on, part by part, with its policy version."""
    computation = Computation(
        pension_id=pension.id,
        county_code=pension.county_code,
        from_month=month,
        minimum_fen=parts.minimum_fen,
        topup_fen=parts.topup_fen,
        bonus_fen=parts.bonus_fen,
        account_fen=parts.account_fen,
        total_fen=parts.total_fen,
        contribution_years=parts.contribution_years,
        balance_fen=parts.balance_fen,
        divisor=parts.divisor,
        policy_version_id=parts.policy_version_id,
        cause=cause,
    )
    session.add(computation)
    session.flush()
    return computation


def paid_through(*, session: Session, pension: Pension) -> dt.date | None:
    """The last month a payroll line was built for: the county's payroll month while the
    pension is in step with it (``paid_with_county``), else the pension's own."""
    if pension.paid_with_county:
        return session.scalar(
            select(PayrollCounty.paid_through).where(
                PayrollCounty.county_code == pension.county_code
            )
        )
    return pension.paid_through


def get_pension(*, session: Session, principal: Principal, person_id: int) -> Pension:
    """The pension of a person in the operator's scope."""
    principal.require(Permission.BENEFIT_READ)
    person = get_person(session=session, principal=principal, person_id=person_id)
    pension = session.scalar(select(Pension).where(Pension.person_id == person.id))
    if pension is None:
        raise NotFound(detail=f"人员{person_id}没有养老金待遇", code="pension_not_found")
    return pension


def computations(*, session: Session, pension_id: int) -> list[Computation]:
    """Every computation of a pension, oldest month first."""
    return list(
        session.scalars(
            select(Computation)
            .where(Computation.pension_id == pension_id)
            .order_by(Computation.from_month, Computation.id)
        )
    )


def computation_for(*, session: Session, pension_id: int, month: dt.date) -> Computation:
    """The computation that pays ``month``: the latest one starting on or before it."""
    found = session.scalar(
        select(Computation)
        .where(Computation.pension_id == pension_id, Computation.from_month <= month)
        .order_by(Computation.from_month.desc(), Computation.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(
            detail=f"养老金{pension_id}在{month:%Y-%m}没有核定结果", code="no_computation"
        )
    return found
