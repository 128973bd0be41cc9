"""Overpayments and their counter repayments under ``/api/v1/benefits/overpayments``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend.benefits import overpayments
from backend.benefits.schemas import OverpaymentOut, RecoveryOut, RepaymentIn
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal

router = APIRouter(prefix="/benefits/overpayments", tags=["benefits"])
Reader = Annotated[Principal, Depends(Requires(Permission.BENEFIT_READ))]
Cashier = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_COLLECT))]


@router.get("", response_model=list[OverpaymentOut], summary="多发待遇列表")
def list_overpayments(
    session: DbSession, principal: Reader, person_id: int | None = None, status: str | None = None
) -> list[OverpaymentOut]:
    """Overpayments in scope (``status=open`` for the ones still being recovered)."""
    found = overpayments.list_overpayments(
        session=session, principal=principal, person_id=person_id, status=status
    )
    return [OverpaymentOut.model_validate(o) for o in found]


@router.get("/{overpayment_id}", response_model=OverpaymentOut, summary="多发待遇详情")
def get_overpayment(overpayment_id: int, session: DbSession, principal: Reader) -> OverpaymentOut:
    """One overpayment."""
    found = overpayments.get_overpayment(
        session=session, principal=principal, overpayment_id=overpayment_id
    )
    return OverpaymentOut.model_validate(found)


@router.post(
    "/{overpayment_id}/repayments",
    response_model=RecoveryOut,
    status_code=201,
    summary="多发待遇退还（柜面收款）",
)
def repay(
    overpayment_id: int,
    body: RepaymentIn,
    session: DbSession,
    principal: Cashier,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record cash repaid at the counter; the overpayment settles when nothing is owed."""

    def action() -> tuple[int, object]:
        recovery = overpayments.repay(
            session=session,
            principal=principal,
            overpayment_id=overpayment_id,
            amount_fen=body.amount_fen,
            receipt_no=body.receipt_no,
            on=body.on,
        )
        return 201, RecoveryOut.model_validate(recovery).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )
