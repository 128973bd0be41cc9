"""Transfers under ``/api/v1/transfers`` (money-moving: ``Idempotency-Key`` required).

The employee-scheme routes (衔接, double pensions) live in ``employee_views``, mounted here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.transfers import employee_views, service
from backend.transfers.schemas import TransferIn, TransferOut

router = APIRouter(prefix="/transfers", tags=["transfers"])
Clerk = Annotated[Principal, Depends(Requires(Permission.ENROLMENT_WRITE))]


@router.post("", response_model=TransferOut, status_code=201, summary="个人账户转移")
def transfer(
    body: TransferIn, session: DbSession, principal: Clerk, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Move the enrolment and the whole balance, once; refused for people receiving."""

    def action() -> tuple[int, object]:
        moved = service.transfer(
            session=session,
            principal=principal,
            person_id=body.person_id,
            on=body.transferred_on or dt.date.today(),
            to_agency=body.to_agency,
        )
        return 201, TransferOut.model_validate(moved).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


router.include_router(employee_views.router)
