"""Individual account statements under ``/api/v1``."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.accounts import service
from backend.audit.reads import record_person_read
from backend.deps import DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal

router = APIRouter(tags=["accounts"])
Reader = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_READ))]


class StatementLineOut(BaseModel):
    """One entry of the year."""

    entry_date: dt.date
    source: str
    amount_fen: int
    policy_version_id: int | None
    reverses_id: int | None


class StatementOut(BaseModel):
    """对账单 of a person and year (fen)."""

    person_id: int
    id_number: str
    name: str
    year: int
    opening_fen: int
    opening_by_source: dict[str, int]
    lines: list[StatementLineOut]
    credits_by_source: dict[str, int]
    interest_fen: int
    closing_fen: int
    closing_by_source: dict[str, int]


@router.get("/persons/{person_id}/statement", response_model=StatementOut, summary="个人账户对账单")
def statement(
    person_id: int,
    session: DbSession,
    principal: Reader,
    year: Annotated[int, Query(ge=2009, le=2100)],
) -> Any:
    """Opening balance, the year's entries by source, interest and closing balance."""
    result = service.statement(session=session, principal=principal, person_id=person_id, year=year)
    record_person_read(session=session, actor=principal.actor, person_id=person_id, via="statement")
    return StatementOut(**asdict(result))
