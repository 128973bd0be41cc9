"""Payrolls under ``/api/v1/payroll``: read, review and approve (three different operators).

Building, sending and importing return files are batch work run from ``xnb payroll``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll import service
from backend.payroll.schemas import ExclusionOut, LineOut, PayrollOut

router = APIRouter(prefix="/payroll", tags=["payroll"])
Reader = Annotated[Principal, Depends(Requires(Permission.BENEFIT_READ))]
Reviewer = Annotated[Principal, Depends(Requires(Permission.PAYROLL_REVIEW))]
Approver = Annotated[Principal, Depends(Requires(Permission.PAYROLL_APPROVE))]


@router.get("/payrolls", response_model=list[PayrollOut], summary="发放名册列表")
def list_payrolls(session: DbSession, principal: Reader) -> list[PayrollOut]:
    """Payrolls in the operator's scope, newest first."""
    found = service.list_payrolls(session=session, principal=principal)
    return [PayrollOut.model_validate(p) for p in found]


@router.get("/payrolls/{payroll_id}", response_model=PayrollOut, summary="发放名册")
def get_payroll(payroll_id: int, session: DbSession, principal: Reader) -> PayrollOut:
    """One payroll with its totals."""
    payroll = service.get_payroll(session=session, principal=principal, payroll_id=payroll_id)
    return PayrollOut.model_validate(payroll)


@router.get("/payrolls/{payroll_id}/lines", response_model=list[LineOut], summary="发放明细")
def lines(
    payroll_id: int, session: DbSession, principal: Reader, person_id: int | None = None
) -> list[LineOut]:
    """The payment lines (first 1000, or one person's)."""
    found = service.lines(
        session=session, principal=principal, payroll_id=payroll_id, person_id=person_id
    )
    return [LineOut.model_validate(line) for line in found]


@router.get(
    "/payrolls/{payroll_id}/exclusions", response_model=list[ExclusionOut], summary="未发放人员"
)
def exclusions(payroll_id: int, session: DbSession, principal: Reader) -> list[ExclusionOut]:
    """Pensioners left out of the payroll, with the reason of each."""
    found = service.exclusions(session=session, principal=principal, payroll_id=payroll_id)
    return [ExclusionOut.model_validate(x) for x in found]


@router.post("/payrolls/{payroll_id}/review", response_model=PayrollOut, summary="复核发放名册")
def review(
    payroll_id: int,
    session: DbSession,
    principal: Reviewer,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """A reviewer other than the builder confirms a draft."""

    def action() -> tuple[int, object]:
        payroll = service.review(session=session, principal=principal, payroll_id=payroll_id)
        return 200, PayrollOut.model_validate(payroll).model_dump(mode="json")

    return respond_once(
        session=session, principal=principal, key=key, request=request, payload={}, action=action
    )


@router.post("/payrolls/{payroll_id}/approve", response_model=PayrollOut, summary="审批发放名册")
def approve(
    payroll_id: int,
    session: DbSession,
    principal: Approver,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """An administrator other than the builder and reviewer approves, once."""

    def action() -> tuple[int, object]:
        payroll = service.approve(session=session, principal=principal, payroll_id=payroll_id)
        return 200, PayrollOut.model_validate(payroll).model_dump(mode="json")

    return respond_once(
        session=session, principal=principal, key=key, request=request, payload={}, action=action
    )
