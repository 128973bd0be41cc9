"""Request dependencies as ``Annotated`` aliases: the session, the client certificate,
the actor, the operator."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.audit.service import Actor
from backend.auth.models import OperatorSession
from backend.auth.service import authenticate
from backend.config import Settings
from backend.db import unit_of_work
from backend.errors import AuthenticationFailed, DomainError, PermissionDenied
from backend.orgs.models import Operator
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.pki.service import ClientIdentity, identify
from backend.pki.service.renewal import supersede_on_first_use, supersession_pending
from backend.tls import peer_certificate

log = logging.getLogger("xnb.mtls")


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


def client_identity(
    request: Request, session: DbSession, settings: AppSettings
) -> ClientIdentity | None:
    """The device, operator or bank behind the connection's client certificate.

    The TLS layer has checked the chain and the validity period; here the certificate
    must also be in the inventory, not revoked, and its holder still active. Over plain
    HTTP (development only) there is no identity.
    """
    certificate = peer_certificate(request.scope)
    if certificate is None:
        if request.url.scheme == "https":
            log.warning("refused %s %s: no client certificate", request.method, request.url.path)
            raise AuthenticationFailed(
                detail="此接口需要客户端证书（双向TLS）",
                code="client_certificate_required",
                audit_refusal=True,
            )
        if not settings.allow_insecure_http:
            raise PermissionDenied(detail="此接口只能通过双向TLS访问", code="mtls_required")
        return None
    try:
        identity = identify(session=session, certificate=certificate)
    except DomainError as error:
        log.warning(
            "refused client certificate serial %x for %s %s: %s (%s)",
            certificate.serial_number,
            request.method,
            request.url.path,
            error.code,
            error.detail,
        )
        raise
    if supersession_pending(session=session, certificate_id=identity.certificate_id):
        # The first use of a renewed certificate supersedes its predecessor, in a
        # transaction of its own: it stands whatever becomes of this request.
        with unit_of_work(request.app.state.session_factory) as own:
            supersede_on_first_use(session=own, certificate_id=identity.certificate_id)
    request.state.client_identity = identity
    return identity


ClientCertificate = Annotated[ClientIdentity | None, Depends(client_identity)]


def _actor(request: Request, identity: ClientCertificate) -> Actor:
    # The device is the client certificate's holder; without mutual TLS (development
    # only) the agent names itself in a header.
    actor = Actor(
        device=identity.label if identity else request.headers.get("X-XNB-Device"),
        address=request.client.host if request.client else None,
    )
    request.state.actor = actor
    return actor


RequestActor = Annotated[Actor, Depends(_actor)]


def _public_actor(request: Request) -> Actor:
    # Public paths (device enrolment): no client certificate is asked for, the caller is
    # known only by its address until it proves something (a one-time token).
    actor = Actor(address=request.client.host if request.client else None)
    request.state.actor = actor
    return actor


PublicActor = Annotated[Actor, Depends(_public_actor)]
"""The actor of a public path: never asks the connection for a client certificate."""

_bearer = HTTPBearer(auto_error=False, description="登录后获得的会话令牌")


def _current(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    actor: RequestActor,
    identity: ClientCertificate,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Operator, OperatorSession, Principal]:
    if credentials is None:
        raise AuthenticationFailed(detail="缺少会话令牌", code="missing_token")
    operator, op_session = authenticate(
        session=session,
        settings=settings,
        token=credentials.credentials,
        device_fingerprint=identity.fingerprint if identity else None,
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


async def capped_body(request: Request, limit: int) -> bytes:
    """The request body, refused with ``413 body_too_large`` past ``limit`` bytes.

    Read as a stream and stopped at the limit, so an endless body costs at most ``limit``
    bytes of memory (a declared Content-Length over it is refused before reading).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> DomainError:
    return DomainError(
        detail=f"请求体不能超过{limit}字节", code="body_too_large", status=413, title="请求体过大"
    )
