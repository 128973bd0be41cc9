"""Transfers under ``/api/v1/transfers`` (money-moving: ``Idempotency-Key`` required)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.transfers import service

router = APIRouter(prefix="/transfers", tags=["transfers"])
Clerk = Annotated[Principal, Depends(Requires(Permission.ENROLMENT_WRITE))]


class TransferIn(BaseModel):
    """A transfer into this county (household register moved) or out of the province."""

    person_id: int
    transferred_on: dt.date | None = None
    to_agency: str | None = Field(default=None, max_length=100)


class TransferOut(BaseModel):
    """A transfer done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    kind: str
    from_county: str
    to_county: str | None
    to_agency: str | None
    balance_fen: int
    contribution_years: int
    to_enrolment_id: int | None


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
