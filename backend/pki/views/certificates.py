"""The inventory, revocation and renewal over mutual TLS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backend.deps import AppSettings, ClientCertificate, DbSession, IdempotencyKey, RequestActor
from backend.errors import AuthenticationFailed
from backend.idempotency import respond_once
from backend.pki import service
from backend.pki.refusals import audited_refusal
from backend.pki.schemas import CertificateOut, IssuedOut, RenewIn, RevokeIn
from backend.pki.views._shared import CaKeys, CertManager, CertReader, _issued
from backend.schemas import Page

router = APIRouter()


@router.get("/certificates", response_model=Page[CertificateOut], summary="证书清单与检索")
def list_certificates(
    session: DbSession,
    principal: CertReader,
    q: Annotated[str | None, Query(max_length=100, description="主体、持有者或序列号")] = None,
    profile: str | None = None,
    state: Annotated[str | None, Query(pattern="^(valid|revoked)$")] = None,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[CertificateOut]:
    """Certificates in the administrator's scope; ``expiring_within_days`` is the report."""
    total, rows = service.search(
        session=session,
        principal=principal,
        text=q,
        profile=profile,
        state=state,
        expiring_within_days=expiring_within_days,
        offset=offset,
        limit=limit,
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[CertificateOut.model_validate(r) for r in rows],
    )


@router.get("/certificates/{serial}", response_model=CertificateOut, summary="查看证书")
def get_certificate(serial: str, session: DbSession, principal: CertReader) -> CertificateOut:
    """One certificate by serial (hex)."""
    return CertificateOut.model_validate(
        service.get_certificate(session=session, principal=principal, serial=serial)
    )


@router.post("/certificates/{serial}/revoke", response_model=CertificateOut, summary="吊销证书")
def revoke(
    serial: str,
    body: RevokeIn,
    session: DbSession,
    keys: CaKeys,
    settings: AppSettings,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Revoke with a reason; the CRL is republished and bound sessions end."""

    def action() -> tuple[int, object]:
        row = service.get_certificate(session=session, principal=principal, serial=serial)
        service.revoke(
            session=session,
            keys=keys,
            settings=settings,
            certificate=row,
            reason=body.reason,
            actor=principal.actor,
        )
        return 200, CertificateOut.model_validate(row).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post("/certificates/renew", response_model=IssuedOut, status_code=201, summary="证书续期")
def renew(
    body: RenewIn,
    session: DbSession,
    keys: CaKeys,
    settings: AppSettings,
    identity: ClientCertificate,
    actor: RequestActor,
) -> IssuedOut:
    """A new certificate for the holder of the client certificate of this connection."""
    with audited_refusal(session, actor=actor, action="pki.renew"):
        if identity is None:
            raise AuthenticationFailed(detail="续期须通过双向TLS出示当前证书", code="mtls_required")
        row = service.renew(
            session=session,
            keys=keys,
            settings=settings,
            identity=identity,
            csr_pem=body.csr_pem,
            actor=actor,
        )
    return _issued(session, row)
