"""Log-in, log-out and "who am I"."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.auth import service
from backend.deps import AppSettings, ClientCertificate, CurrentLogin, DbSession, RequestActor
from backend.orgs.permissions import ROLE_LABELS, ROLE_PERMISSIONS, Role
from backend.pki.login import new_challenge

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    # The certificate factor: the challenge, its signature (base64) and the certificate.
    challenge_id: int | None = None
    signature: Annotated[str | None, Field(max_length=2048)] = None
    certificate_pem: Annotated[str | None, Field(max_length=16_000)] = None


class ChallengeIn(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]


class ChallengeOut(BaseModel):
    challenge_id: int
    nonce: str
    expires_at: dt.datetime
    device_fingerprint: str | None


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


@router.post("/challenge", response_model=ChallengeOut, summary="申请登录挑战（证书因子）")
def challenge(body: ChallengeIn, session: DbSession, identity: ClientCertificate) -> ChallengeOut:
    """A single-use nonce for the operator's certificate key to sign, valid two minutes."""
    row = new_challenge(
        session=session,
        username=body.username,
        device_fingerprint=identity.fingerprint if identity else None,
    )
    return ChallengeOut(
        challenge_id=row.id,
        nonce=row.nonce,
        expires_at=row.expires_at,
        device_fingerprint=row.device_fingerprint,
    )


@router.post("/login", response_model=LoginOut, summary="操作员登录（口令 + 证书签名）")
def login(
    body: LoginIn,
    session: DbSession,
    settings: AppSettings,
    actor: RequestActor,
    identity: ClientCertificate,
) -> LoginOut:
    """Check the password and, when given, the signed challenge; lock after repeated failures."""
    proof = None
    if body.challenge_id is not None or body.signature or body.certificate_pem:
        proof = service.CertificateProof(
            challenge_id=body.challenge_id or 0,
            signature_b64=body.signature or "",
            certificate_pem=body.certificate_pem or "",
        )
    outcome = service.login(
        session=session,
        settings=settings,
        username=body.username,
        password=body.password,
        actor=actor,
        certificate_proof=proof,
        device_fingerprint=identity.fingerprint if identity else None,
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
