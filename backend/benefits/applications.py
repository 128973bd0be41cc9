"""Pension applications and their maker-checker decision; approval starts the pension."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.audit.service import record
from backend.benefits.formula import split_by_source
from backend.benefits.models import Application, Pension, PensionDraw
from backend.benefits.service import (
    ApplicationStatus,
    PensionStatus,
    account_balance,
    add_computation,
    check_person,
)
from backend.benefits.survival_rules import next_due
from backend.db import utcnow
from backend.errors import Conflict, PermissionDenied
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.policy import service as policy
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, EnrolmentEvent, Person
from backend.registry.service import get_person


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
    person = get_person(session=session, principal=principal, person_id=person_id)
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
    return get_in_scope(
        session=session,
        principal=principal,
        model=Application,
        object_id=application_id,
        region_of=lambda found: found.region_code,
        detail=f"待遇申请{application_id}不存在",
        code="application_not_found",
    )


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
        certified_until=next_due(
            application.applied_on,
            policy.rules_on(
                session=session, region_code=enrolment.region_code, on=application.applied_on
            ).rules.survival_certification_months,
        ),
        contribution_years=parts.contribution_years,
        balance_fen=parts.balance_fen,
        monthly_fen=parts.total_fen,
    )
    session.add(pension)
    session.flush()
    # The newest computation, noted so the payroll's regular month needs no search.
    pension.computation_id = add_computation(
        session=session, pension=pension, month=result.start_month, parts=parts
    ).id
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
