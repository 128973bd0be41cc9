"""Log-in, log-out and "who am I"."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.auth import service
from backend.deps import AppSettings, CurrentLogin, DbSession, RequestActor
from backend.orgs.permissions import ROLE_LABELS, ROLE_PERMISSIONS, Role

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    factors: list[str]
    operator_id: int
    role: str


class WhoAmI(BaseModel):
    operator_id: int
    username: str
    full_name: str
    role: str
    role_label: str
    office_code: str
    office_name: str
    scope_prefix: str
    permissions: list[str]
    session_expires_at: dt.datetime
    factors: list[str]


@router.post("/login", response_model=LoginOut, summary="操作员登录（口令因子）")
def login(
    body: LoginIn, session: DbSession, settings: AppSettings, actor: RequestActor
) -> LoginOut:
    """Check the password; after repeated failures the account locks for a while."""
    outcome = service.login(
        session=session,
        settings=settings,
        username=body.username,
        password=body.password,
        actor=actor,
    )
    if outcome.error is not None:
        # The failure count and its audit record must survive the refusal.
        session.commit()
        raise outcome.error
    assert outcome.operator and outcome.token and outcome.expires_at
    return LoginOut(
        access_token=outcome.token,
        expires_at=outcome.expires_at,
        factors=outcome.factors,
        operator_id=outcome.operator.id,
        role=outcome.operator.role,
    )


@router.post("/logout", status_code=204, summary="注销当前会话")
def logout(current: CurrentLogin, session: DbSession) -> None:
    """End the current session."""
    _, op_session, principal = current
    service.logout(session=session, op_session=op_session, actor=principal.actor)


@router.get("/me", response_model=WhoAmI, summary="当前操作员")
def me(current: CurrentLogin) -> WhoAmI:
    """The operator behind the token, with role, scope and permissions."""
    operator, op_session, principal = current
    role = Role(operator.role)
    return WhoAmI(
        operator_id=operator.id,
        username=operator.username,
        full_name=operator.full_name,
        role=role.value,
        role_label=ROLE_LABELS[role],
        office_code=operator.office.code,
        office_name=operator.office.name,
        scope_prefix=principal.scope.prefix,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[role]),
        session_expires_at=op_session.expires_at,
        factors=op_session.factors.split("+"),
    )
