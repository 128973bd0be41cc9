"""``GET /api/v1/inbox``: the reviewer's pending items (decided at the owning endpoints)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from backend.deps import CurrentPrincipal, DbSession
from backend.inbox import service

router = APIRouter(tags=["inbox"])


class ChangeOut(BaseModel):
    """What an item would change (raw values; pages show them by name)."""

    field: str
    before: str | None
    after: str | None


class InboxItemOut(BaseModel):
    """One pending item."""

    kind: str
    id: int
    person_id: int
    person_name: str
    maker_id: int | None
    maker_name: str | None
    mine: bool
    created_at: dt.datetime
    changes: list[ChangeOut]
    amount_fen: int | None
    note: str | None
    approve_path: str
    reject_path: str
    approve_reason_field: str | None
    reject_reason_field: str | None


class InboxOut(BaseModel):
    """Every pending item the operator may decide, oldest first."""

    total: int
    items: list[InboxItemOut]


@router.get("/inbox", response_model=InboxOut, summary="复核待办（各业务待审核事项）")
def inbox(session: DbSession, principal: CurrentPrincipal) -> InboxOut:
    """Pending personal-data changes, refunds, pension applications, deaths, payee account
    changes and double-pension cases in the operator's scope that the operator's role
    decides; the operator's own marked ``mine``."""
    items = service.pending(session=session, principal=principal)
    return InboxOut(
        total=len(items),
        items=[
            InboxItemOut(
                **{k: v for k, v in vars(i).items() if k != "changes"},
                changes=[ChangeOut(**vars(c)) for c in i.changes],
            )
            for i in items
        ],
    )
