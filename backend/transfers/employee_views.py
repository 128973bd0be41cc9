"""衔接 with the employee scheme and double-pension cases, under ``/api/v1/transfers``.

Mounted by ``transfers.views``; every state change takes an ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import RejectionIn
from backend.transfers import double_pension, employee
from backend.transfers.schemas import TransferOut

router = APIRouter()
Clerk = Annotated[Principal, Depends(Requires(Permission.ENROLMENT_WRITE))]
Reader = Annotated[Principal, Depends(Requires(Permission.BENEFIT_READ))]
Checker = Annotated[Principal, Depends(Requires(Permission.BENEFIT_APPROVE))]


class EmployeeYearsIn(BaseModel):
    """Years paid into the employee scheme, as its agency certified them."""

    person_id: int
    agency: str = Field(min_length=1, max_length=100)
    years: list[int] = Field(max_length=80)
    recorded_on: dt.date | None = None


class EmployeeYearsOut(BaseModel):
    """The employee years on record, the overlapping residents' years, refunds asked."""

    person_id: int
    years: list[int]
    overlap_years: list[int]
    refund_ids: list[int]


class EmployeeTransferInIn(BaseModel):
    """The employee balance moving in (fewer than the minimum employee years)."""

    person_id: int
    balance_fen: int = Field(ge=0)
    transferred_on: dt.date | None = None


class EmployeeTransferInOut(BaseModel):
    """An employee balance moved in."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    agency: str
    balance_fen: int
    employee_years: int
    transferred_on: dt.date


class EmployeeTransferOutIn(BaseModel):
    """The residents' balance moving to the employee scheme (the minimum years or more)."""

    person_id: int
    transferred_on: dt.date | None = None


class DecisionIn(BaseModel):
    """A checker's decision on a double-pension case."""

    decided_on: dt.date | None = None


class CaseRejectionIn(RejectionIn, DecisionIn):
    """A checker's rejection of a double-pension case, saying why."""


class DoublePensionCaseOut(BaseModel):
    """A double-pension case and what its confirmation did."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    pension_id: int
    county_code: str
    employee_start_month: dt.date
    status: str
    overpaid_fen: int
    recovered_fen: int
    receivable_fen: int
    transferred_fen: int
    overpayment_id: int | None
    transfer_id: int | None
    checker_id: int | None
    rejection_reason: str | None


def _once(
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
    body: BaseModel,
    action: Callable[[], tuple[int, object]],
) -> JSONResponse:
    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/employee-scheme/years",
    response_model=EmployeeYearsOut,
    status_code=201,
    summary="登记职工养老保险缴费年度",
)
def record_years(
    body: EmployeeYearsIn,
    session: DbSession,
    principal: Clerk,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record certified employee years; overlapping residents' years get refund requests."""

    def action() -> tuple[int, object]:
        done = employee.record_employee_years(
            session=session,
            principal=principal,
            person_id=body.person_id,
            agency=body.agency,
            years=body.years,
            on=body.recorded_on or dt.date.today(),
        )
        return 201, EmployeeYearsOut(**vars(done)).model_dump(mode="json")

    return _once(session, principal, key, request, body, action)


@router.post(
    "/employee-scheme/in",
    response_model=EmployeeTransferInOut,
    status_code=201,
    summary="职工养老保险转入城乡居民养老保险",
)
def transfer_in(
    body: EmployeeTransferInIn,
    session: DbSession,
    principal: Clerk,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Move the employee balance in, once; the employee years count from now on."""

    def action() -> tuple[int, object]:
        moved = employee.transfer_in(
            session=session,
            principal=principal,
            person_id=body.person_id,
            balance_fen=body.balance_fen,
            on=body.transferred_on or dt.date.today(),
        )
        return 201, EmployeeTransferInOut.model_validate(moved).model_dump(mode="json")

    return _once(session, principal, key, request, body, action)


@router.post(
    "/employee-scheme/out",
    response_model=TransferOut,
    status_code=201,
    summary="城乡居民养老保险转入职工养老保险",
)
def transfer_out(
    body: EmployeeTransferOutIn,
    session: DbSession,
    principal: Clerk,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Move the whole residents' balance to the employee scheme, once; enrolment ended."""

    def action() -> tuple[int, object]:
        moved = employee.transfer_out(
            session=session,
            principal=principal,
            person_id=body.person_id,
            on=body.transferred_on or dt.date.today(),
        )
        return 201, TransferOut.model_validate(moved).model_dump(mode="json")

    return _once(session, principal, key, request, body, action)


@router.get(
    "/double-pensions", response_model=list[DoublePensionCaseOut], summary="重复领取待遇核查列表"
)
def list_double_pensions(
    session: DbSession, principal: Reader, status: str | None = None
) -> list[DoublePensionCaseOut]:
    """Double-pension cases in scope (``status=pending`` for the checker's queue)."""
    found = double_pension.list_cases(session=session, principal=principal, status=status)
    return [DoublePensionCaseOut.model_validate(c) for c in found]


@router.get(
    "/double-pensions/{case_id}", response_model=DoublePensionCaseOut, summary="重复领取待遇核查"
)
def get_double_pension(case_id: int, session: DbSession, principal: Reader) -> DoublePensionCaseOut:
    """One double-pension case."""
    case = double_pension.get_case(session=session, principal=principal, case_id=case_id)
    return DoublePensionCaseOut.model_validate(case)


def _decide(
    case_id: int,
    body: DecisionIn | CaseRejectionIn,
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
    accept: bool,
) -> JSONResponse:
    def action() -> tuple[int, object]:
        case = double_pension.decide(
            session=session,
            principal=principal,
            case_id=case_id,
            accept=accept,
            on=body.decided_on or dt.date.today(),
            reason=body.reason if isinstance(body, CaseRejectionIn) else None,
        )
        return 200, DoublePensionCaseOut.model_validate(case).model_dump(mode="json")

    return _once(session, principal, key, request, body, action)


@router.post(
    "/double-pensions/{case_id}/confirm",
    response_model=DoublePensionCaseOut,
    summary="确认重复领取：终止待遇、追回多发、转出余额",
)
def confirm(
    case_id: int,
    body: DecisionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """End the residents' pension, recover the overpaid basic pension, send the balance on."""
    return _decide(case_id, body, session, principal, key, request, True)


@router.post(
    "/double-pensions/{case_id}/reject",
    response_model=DoublePensionCaseOut,
    summary="驳回重复领取核查",
)
def reject(
    case_id: int,
    body: CaseRejectionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Not an employee pensioner after all (the checker says why): payment resumes with back
    pay."""
    return _decide(case_id, body, session, principal, key, request, False)
