"""Qualification checks, pension applications and their maker-checker decision.

The facts come from the registry (birth date, household register, other pensions, the
household's children), the contributions (settled years) and the account (balance); the
rules come from the policy version in force at the person's region on the start month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.accounts.models import Account, AccountEntry
from backend.audit.service import record
from backend.benefits.formula import PensionParts, monthly_pension, split_by_source
from backend.benefits.models import Application, Computation, Pension, PensionDraw
from backend.benefits.qualification import Facts, Reason, age_on, qualify, start_month
from backend.benefits.survival_rules import next_due
from backend.contributions.models import Assessment
from backend.db import utcnow
from backend.errors import Conflict, NoPolicyVersion, NotFound, PermissionDenied
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.policy import service as policy
from backend.policy.models import PolicyVersion
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, EnrolmentEvent, Person


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
    """Settled contribution years (own part paid in full), make-up years included."""
    return (
        session.scalar(
            select(func.count(Assessment.id)).where(
                Assessment.person_id == person_id, Assessment.settled.is_(True)
            )
        )
        or 0
    )


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
    person = accounts.get_scoped_person(session=session, principal=principal, person_id=person_id)
    return check_person(session=session, person=person, on=on)


def _paying_enrolment(session: Session, person_id: int) -> Enrolment:
    enrolment = session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == person_id,
            Enrolment.status == EnrolmentStatus.PAYING.value,
        )
    )
    if enrolment is None:
        raise Conflict(detail="该人员不在参保缴费状态，不能申请待遇", code="not_paying")
    return enrolment


def apply(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    applied_on: dt.date,
    bank_code: str,
    bank_account: str,
) -> Application:
    """Record an application of a qualifying person; a person who does not qualify is told why."""
    principal.require(Permission.BENEFIT_APPLY)
    person = accounts.get_scoped_person(session=session, principal=principal, person_id=person_id)
    if session.scalar(select(Pension.id).where(Pension.person_id == person.id)) is not None:
        raise Conflict(detail="该人员已核定养老金待遇", code="already_pensioner")
    if session.scalar(
        select(Application.id).where(
            Application.person_id == person.id, Application.status == ApplicationStatus.PENDING
        )
    ):
        raise Conflict(detail="该人员已有待审核的待遇申请", code="application_pending")
    enrolment = _paying_enrolment(session, person.id)
    result = check_person(session=session, person=person, on=applied_on)
    if result.reasons:
        raise Conflict(
            detail="不符合领取条件：" + "；".join(r.message for r in result.reasons),
            code="not_qualified",
            extra={"reasons": [{"rule": r.rule, "message": r.message} for r in result.reasons]},
        )
    application = Application(
        person_id=person.id,
        county_code=person.county_code,
        region_code=enrolment.region_code,
        applied_on=applied_on,
        start_month=result.start_month,
        contribution_years=result.facts.contribution_years,
        balance_fen=result.parts.balance_fen,
        policy_version_id=result.parts.policy_version_id,
        bank_code=bank_code,
        bank_account=bank_account,
        status=ApplicationStatus.PENDING,
        maker_id=principal.operator_id,
    )
    session.add(application)
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="benefit.apply",
        object_type="benefit_application",
        object_id=application.id,
        detail={"person_id": person.id, "start_month": result.start_month.isoformat()},
    )
    return application


def get_application(*, session: Session, principal: Principal, application_id: int) -> Application:
    """An application in the operator's scope (out of scope looks like not found)."""
    application = session.get(Application, application_id)
    if application is None or not principal.scope.covers(application.region_code):
        raise NotFound(
            detail=f"待遇申请{application_id}不存在",
            code="application_not_found",
            audit_refusal=application is not None,
        )
    return application


def list_applications(
    *, session: Session, principal: Principal, status: str | None = None
) -> list[Application]:
    """Applications of the operator's scope, oldest first."""
    principal.require(Permission.BENEFIT_READ)
    query = select(Application).where(Application.region_code.startswith(principal.scope.prefix))
    if status is not None:
        query = query.where(Application.status == status)
    return list(session.scalars(query.order_by(Application.id)))


def decide(
    *,
    session: Session,
    principal: Principal,
    application_id: int,
    accept: bool,
    note: str | None = None,
) -> Application:
    """A checker (not the maker) approves — the pension is awarded — or rejects an application."""
    principal.require(Permission.BENEFIT_APPROVE)
    application = get_application(
        session=session, principal=principal, application_id=application_id
    )
    session.refresh(application, with_for_update=True)
    if application.status != ApplicationStatus.PENDING:
        raise Conflict(detail="该待遇申请已处理", code="application_decided")
    if application.maker_id == principal.operator_id:
        raise PermissionDenied(detail="申请人不能审核自己经办的待遇申请", code="maker_is_checker")
    application.checker_id = principal.operator_id
    application.decided_at = utcnow()
    application.note = note
    if accept:
        pension = _award(session, principal, application)
        application.status = ApplicationStatus.APPROVED
        detail: dict[str, object] = {"pension_id": pension.id, "monthly_fen": pension.monthly_fen}
    else:
        application.status = ApplicationStatus.REJECTED
        detail = {"note": note}
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="benefit.approve" if accept else "benefit.reject",
        object_type="benefit_application",
        object_id=application.id,
        detail={**detail, "maker_id": application.maker_id},
    )
    return application


def _award(session: Session, principal: Principal, application: Application) -> Pension:
    """Start the pension: the rules are checked again, as facts may have changed since."""
    person = session.get_one(Person, application.person_id)
    enrolment = _paying_enrolment(session, person.id)
    result = check_person(session=session, person=person, on=application.applied_on)
    if result.reasons:
        raise Conflict(
            detail="申请后情况已变化，不再符合领取条件："
            + "；".join(r.message for r in result.reasons),
            code="not_qualified",
            extra={"reasons": [{"rule": r.rule, "message": r.message} for r in result.reasons]},
        )
    account_id, _ = account_balance(session=session, person_id=person.id)
    parts = result.parts
    pension = Pension(
        person_id=person.id,
        application_id=application.id,
        account_id=account_id,
        county_code=person.county_code,
        region_code=enrolment.region_code,
        bank_code=application.bank_code,
        bank_account=application.bank_account,
        status=PensionStatus.RECEIVING,
        start_month=result.start_month,
        status_since=result.start_month,
        # Applying in person at the counter is the first survival certification.
        certified_until=next_due(application.applied_on),
        contribution_years=parts.contribution_years,
        balance_fen=parts.balance_fen,
        monthly_fen=parts.total_fen,
    )
    session.add(pension)
    session.flush()
    add_computation(session=session, pension=pension, month=result.start_month, parts=parts)
    if account_id is not None:
        by_source = accounts.balances_by_source(session=session, account_id=account_id)
        session.add_all(
            PensionDraw(pension_id=pension.id, source=source, monthly_fen=monthly)
            for source, monthly in split_by_source(parts.account_fen, by_source).items()
        )
    enrolment.status = EnrolmentStatus.RECEIVING.value
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.id,
            status=EnrolmentStatus.RECEIVING.value,
            effective_date=result.start_month,
            reason="待遇核定",
            operator_id=principal.operator_id,
        )
    )
    return pension


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


def get_pension(*, session: Session, principal: Principal, person_id: int) -> Pension:
    """The pension of a person in the operator's scope."""
    principal.require(Permission.BENEFIT_READ)
    person = accounts.get_scoped_person(session=session, principal=principal, person_id=person_id)
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


def change_bank(
    *, session: Session, principal: Principal, person_id: int, bank_code: str, bank_account: str
) -> Pension:
    """Correct the account a pension is paid to (failed payments are then re-issued to it)."""
    principal.require(Permission.BENEFIT_APPLY)
    pension = get_pension(session=session, principal=principal, person_id=person_id)
    before = {"bank_code": pension.bank_code, "bank_account": pension.bank_account}
    pension.bank_code, pension.bank_account = bank_code, bank_account
    pension.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="benefit.change_bank",
        object_type="pension",
        object_id=pension.id,
        detail={"before": before, "after": {"bank_code": bank_code, "bank_account": bank_account}},
    )
    return pension
