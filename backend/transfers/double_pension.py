"""Someone receiving the residents' pension and an employee pension (DOMAIN.md §5, §11).

The employee-scheme agency sends a list of its pensioners (CSV: 身份证号, 姓名,
职工养老金起始月); it is staged and matched in one join (``registry.matching``), once
per file. Each residents' pensioner on it gets a case and the residents' pension is
suspended at once. A checker's confirmation ends the pension from the month the employee
pension started; the basic pension paid for the overlapping months becomes an
overpayment (cause ``double_pension``), recovered from the remaining account balance
first, the rest owed by the person in instalments (repaid at the counter); what is left of
the balance then moves to the employee scheme as a transfer. A rejection resumes payment
(the months held back come as back pay).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import errors
from backend.audit.service import Actor, record
from backend.benefits import overpayments, pensioner_lists
from backend.benefits.death import paid_after_death
from backend.benefits.formula import add_months
from backend.benefits.models import Pension
from backend.benefits.service import PensionStatus
from backend.db import utcnow
from backend.errors import Conflict
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.registry import matching
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person
from backend.transfers.employee import send_to_employee_scheme
from backend.transfers.models import DoublePensionCase, PersonList

STATUS_CODE = "double_pension"

EMPLOYEE_PENSIONERS = matching.ListLayout(
    label="职工养老保险待遇人员名单",
    date_headers=("职工养老金起始月", "待遇起始月", "起始月"),
    parse_date=matching.month_not_later_than_this_month,
)


def basic_paid_from(session: Session, pension_id: int, month: dt.date) -> int:
    """Basic pension paid for ``month`` and later (fen): what paying both schemes overpaid."""
    # paid_after_death counts months after the given day's month: the month before ``month``.
    return paid_after_death(session=session, pension_id=pension_id, died_on=add_months(month, -1))[
        1
    ]


def import_employee_pensioners(
    *, session: Session, path: Path, agency: str, actor: Actor, accept_valid: bool = False
) -> matching.ListResult:
    """Match the employee agency's pensioner list against residents' pensioners; once per file.

    Each match without an open case opens one and suspends the residents' pension at once.
    A bad row rejects the whole file (field by field) unless ``accept_valid``.
    """
    has_case = (
        select(DoublePensionCase.id)
        .where(DoublePensionCase.person_id == Person.id, DoublePensionCase.status != "rejected")
        .exists()
    )
    return pensioner_lists.import_pensioner_list(
        session=session,
        path=path,
        layout=EMPLOYEE_PENSIONERS,
        kind="employee_pensioners",
        source=agency,
        has_case=has_case,
        open_case=lambda listed, pension, start_month: _open_case(
            session, pension, listed, start_month, actor
        ),
        actor=actor,
        accept_valid=accept_valid,
    )


def _open_case(
    session: Session,
    pension: Pension,
    listed: PersonList,
    start_month: dt.date,
    actor: Actor,
) -> DoublePensionCase:
    case = DoublePensionCase(
        person_id=pension.person_id,
        pension_id=pension.id,
        county_code=pension.county_code,
        region_code=pension.region_code,
        list_id=listed.id,
        employee_start_month=start_month,
        status="pending",
        overpaid_fen=basic_paid_from(session, pension.id, start_month),
    )
    pension.status, pension.status_code = PensionStatus.SUSPENDED, STATUS_CODE
    pension.status_reason = f"同时领取职工养老金（自{start_month:%Y-%m}，{listed.source}）待核实"
    pension.status_since = start_month
    pension.updated_at = utcnow()
    session.add(case)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="double_pension.open",
        object_type="double_pension_case",
        object_id=case.id,
        detail={"person_id": case.person_id, "employee_start_month": f"{start_month:%Y-%m}"},
    )
    return case


def get_case(*, session: Session, principal: Principal, case_id: int) -> DoublePensionCase:
    """A double-pension case in the operator's scope (404 outside it)."""
    principal.require(Permission.BENEFIT_READ)
    return get_in_scope(
        session=session,
        principal=principal,
        model=DoublePensionCase,
        object_id=case_id,
        region_of=lambda found: found.region_code,
        detail=f"重复领取待遇核查{case_id}不存在",
        code="double_pension_case_not_found",
    )


def list_cases(
    *, session: Session, principal: Principal, status: str | None = None
) -> list[DoublePensionCase]:
    """Double-pension cases in the operator's scope, oldest first."""
    principal.require(Permission.BENEFIT_READ)
    query = select(DoublePensionCase).where(
        DoublePensionCase.region_code.startswith(principal.scope.prefix)
    )
    if status:
        query = query.where(DoublePensionCase.status == status)
    return list(session.scalars(query.order_by(DoublePensionCase.id)))


def decide(
    *,
    session: Session,
    principal: Principal,
    case_id: int,
    accept: bool,
    on: dt.date,
    reason: str | None = None,
) -> DoublePensionCase:
    """A checker confirms — pension ended, overpayment recovered, balance sent on — or
    rejects, saying why (``reason``, required to reject)."""
    principal.require(Permission.BENEFIT_APPROVE)
    rejection_reason = None if accept else errors.rejection_reason(reason)
    case = get_case(session=session, principal=principal, case_id=case_id)
    session.refresh(case, with_for_update=True)
    if case.status != "pending":
        raise Conflict(detail="该核查已处理", code="double_pension_case_decided")
    case.checker_id, case.decided_at = principal.operator_id, utcnow()
    pension = session.get_one(Pension, case.pension_id)
    if accept and pension.status == PensionStatus.TERMINATED:
        # Ended meanwhile (a confirmed death settles its own overpayment): nothing to end.
        raise Conflict(detail="该待遇已终止，请驳回本核查", code="pension_already_ended")
    if accept:
        case.status = "confirmed"
        _end(session, case, pension, principal, on)
    else:
        case.status, case.rejection_reason = "rejected", rejection_reason
        if pension.status_code == STATUS_CODE:
            # Back to paying; the months held back come as back pay in the next payroll.
            pension.status, pension.status_code, pension.status_reason = "receiving", None, None
            pension.status_since = on.replace(day=1)
    pension.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="double_pension.confirm" if accept else "double_pension.reject",
        object_type="double_pension_case",
        object_id=case.id,
        detail={
            "overpaid_fen": case.overpaid_fen,
            "recovered_fen": case.recovered_fen,
            "receivable_fen": case.receivable_fen,
            "transferred_fen": case.transferred_fen,
            "reason": rejection_reason,
        },
    )
    return case


def _end(
    session: Session,
    case: DoublePensionCase,
    pension: Pension,
    principal: Principal,
    on: dt.date,
) -> None:
    """End the pension, open and recover the overpayment, send the rest of the balance on."""
    start = case.employee_start_month
    listed = session.get_one(PersonList, case.list_id)
    pension.status, pension.status_code = PensionStatus.TERMINATED, STATUS_CODE
    pension.status_reason = f"领取职工养老金（自{start:%Y-%m}，{listed.source}）"
    pension.end_month = add_months(start, -1)
    case.overpaid_fen = basic_paid_from(session, pension.id, start)
    if case.overpaid_fen:
        overpayment = overpayments.open_overpayment(
            session=session,
            finding=overpayments.Finding(
                person_id=case.person_id,
                pension_id=pension.id,
                county_code=case.county_code,
                region_code=case.region_code,
                cause=overpayments.Cause.DOUBLE_PENSION,
                ref_type="double_pension_case",
                ref_id=case.id,
                amount_fen=case.overpaid_fen,
                debtor="pensioner",
                method=overpayments.Method.INSTALMENTS,
                reason=f"自{start:%Y-%m}同时领取职工养老金期间多发的基础养老金",
            ),
            actor=principal.actor,
            on=on,
        )
        overpayments.recover_from_balance(
            session=session,
            overpayment=overpayment,
            on=on,
            actor=principal.actor,
            operator_id=principal.operator_id,
        )
        case.overpayment_id = overpayment.id
        case.recovered_fen = overpayment.recovered_fen
        case.receivable_fen = overpayments.outstanding(overpayment)
    enrolment = session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == case.person_id,
            Enrolment.status != EnrolmentStatus.TERMINATED.value,
        )
    )
    if enrolment is not None:
        moved = send_to_employee_scheme(
            session=session,
            person=session.get_one(Person, case.person_id),
            enrolment=enrolment,
            agency=listed.source,
            on=on,
            operator_id=principal.operator_id,
        )
        case.transfer_id, case.transferred_fen = moved.id, moved.balance_fen
