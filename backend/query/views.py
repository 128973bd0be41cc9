"""``/api/v1/persons/{id}/query-password``: the counter sets a resident's 12333 query password."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.db import utcnow
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.keys.fields import lookup
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.query import service

router = APIRouter(tags=["query"])
PersonWriter = Annotated[Principal, Depends(Requires(Permission.PERSON_WRITE))]
PersonReader = Annotated[Principal, Depends(Requires(Permission.PERSON_READ))]


class QueryPasswordIn(BaseModel):
    password: Annotated[str, Field(min_length=1, max_length=32, description="6位数字查询密码")]


class QueryPasswordOut(BaseModel):
    person_id: int
    is_set: bool
    set_at: dt.datetime | None = None
    locked: bool = False
    locked_until: dt.datetime | None = None


@router.put(
    "/persons/{person_id}/query-password",
    response_model=QueryPasswordOut,
    summary="设置12333查询密码（柜面）",
)
def set_query_password(
    person_id: int,
    body: QueryPasswordIn,
    request: Request,
    session: DbSession,
    principal: PersonWriter,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Set or replace the six-digit query password; failures and lockout start afresh."""

    def action() -> tuple[int, object]:
        row = service.set_password(
            session=session, principal=principal, person_id=person_id, password=body.password
        )
        out = QueryPasswordOut(person_id=person_id, is_set=True, set_at=row.set_at)
        return 200, out.model_dump(mode="json")

    # The idempotency fingerprint must not let a stored hash be tried against the million
    # six-digit passwords: it sees a keyed hash of the password only.
    keyed = lookup("query_password", f"{person_id}:{body.password}").hex()
    return respond_once(
        session=session,
        principal=principal,
        key=idempotency_key,
        request=request,
        payload={"password": keyed},
        action=action,
    )


@router.get(
    "/persons/{person_id}/query-password",
    response_model=QueryPasswordOut,
    summary="查看12333查询密码状态（是否已设置、是否锁定）",
)
def query_password_status(
    person_id: int, session: DbSession, principal: PersonReader
) -> QueryPasswordOut:
    """Whether a query password is set, when, and whether wrong tries have locked it."""
    row = service.password_status(session=session, principal=principal, person_id=person_id)
    if row is None:
        return QueryPasswordOut(person_id=person_id, is_set=False)
    locked = row.locked_until is not None and row.locked_until > utcnow()
    return QueryPasswordOut(
        person_id=person_id,
        is_set=True,
        set_at=row.set_at,
        locked=locked,
        locked_until=row.locked_until if locked else None,
    )
