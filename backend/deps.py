"""Request dependencies as ``Annotated`` aliases: the session, the actor, the operator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.audit.service import Actor
from backend.auth.models import OperatorSession
from backend.auth.service import authenticate
from backend.config import Settings
from backend.errors import AuthenticationFailed
from backend.orgs.models import Operator
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the view returns, rolled back on error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]


def _actor(request: Request) -> Actor:
    # The device comes from the workstation's certificate once mutual TLS is in place;
    # until then the agent names itself in a header.
    actor = Actor(
        device=request.headers.get("X-XNB-Device"),
        address=request.client.host if request.client else None,
    )
    request.state.actor = actor
    return actor


RequestActor = Annotated[Actor, Depends(_actor)]

_bearer = HTTPBearer(auto_error=False, description="登录后获得的会话令牌")


def _current(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    actor: RequestActor,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Operator, OperatorSession, Principal]:
    if credentials is None:
        raise AuthenticationFailed(detail="缺少会话令牌", code="missing_token")
    operator, op_session = authenticate(
        session=session, settings=settings, token=credentials.credentials
    )
    full_actor = Actor(
        operator_id=operator.id,
        username=operator.username,
        device=actor.device,
        address=actor.address,
    )
    principal = Principal.of(operator, full_actor)
    request.state.actor = full_actor
    return operator, op_session, principal


CurrentLogin = Annotated[tuple[Operator, OperatorSession, Principal], Depends(_current)]


def _principal(login: CurrentLogin) -> Principal:
    return login[2]


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


class Requires:
    """A dependency that checks one permission: ``Depends(Requires(Permission.X))``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, principal: CurrentPrincipal) -> Principal:
        principal.require(self.permission)
        return principal


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="客户端生成的幂等键；重复请求返回首次结果且不再改变数据",
    ),
]
