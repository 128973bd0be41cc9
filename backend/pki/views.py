"""The CA over HTTP: public (CRL, OCSP, CA chain, device enrolment) and the API (inventory,
devices and tokens, CSR approval, revocation, renewal over mutual TLS)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.deps import (
    AppSettings,
    ClientCertificate,
    CurrentPrincipal,
    DbSession,
    IdempotencyKey,
    RequestActor,
    Requires,
)
from backend.errors import AuthenticationFailed, PermissionDenied
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.pki import service
from backend.pki.keystore import DatabaseKeyStore
from backend.pki.models import Certificate, Device
from backend.pki.refusals import audited_refusal
from backend.pki.schemas import (
    BankIn,
    BankOut,
    CertificateOut,
    DeviceIn,
    DeviceOut,
    EnrolIn,
    IssuedOut,
    RenewIn,
    RequestIn,
    RequestOut,
    RevokeIn,
    TokenIn,
    TokenOut,
)
from backend.schemas import Page

public_router = APIRouter(prefix="/pki", tags=["pki"])
router = APIRouter(tags=["certificates"])

CertReader = Annotated[Principal, Depends(Requires(Permission.CERT_READ))]
CertManager = Annotated[Principal, Depends(Requires(Permission.CERT_MANAGE))]
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"


def _keys(session: DbSession, settings: AppSettings) -> DatabaseKeyStore:
    return DatabaseKeyStore(session, settings.pki_passphrase.get_secret_value())


CaKeys = Annotated[DatabaseKeyStore, Depends(_keys)]


def _issued(session: DbSession, row: Certificate) -> IssuedOut:
    return IssuedOut(
        serial=row.serial,
        profile=row.profile,
        holder=row.holder,
        not_after=row.not_after,
        certificate_pem=row.pem,
        chain_pem=service.chain_pem(session=session),
    )


# ---- public: no client certificate needed ---------------------------------------------


@public_router.get("/ca.pem", summary="CA证书链（签发CA与根CA，PEM）")
def ca_chain(session: DbSession) -> Response:
    """What relying parties and workstations trust."""
    return Response(service.chain_pem(session=session), media_type="application/x-pem-file")


@public_router.get("/crl", summary="证书吊销列表（DER）")
def crl(session: DbSession) -> Response:
    """The newest CRL of the issuing CA."""
    entry = service.latest_crl(session=session)
    return Response(
        entry.der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=300"},
    )


@public_router.post("/ocsp", summary="OCSP 在线证书状态查询（RFC 6960）")
async def ocsp_post(
    request: Request, session: DbSession, keys: CaKeys, settings: AppSettings
) -> Response:
    """Answer a DER OCSP request sent as the POST body."""
    body = await request.body()
    # The look-up and the signature are blocking work: off the event loop.
    answer = await run_in_threadpool(
        service.ocsp_response, session=session, keys=keys, settings=settings, request_der=body
    )
    return Response(answer, media_type=OCSP_RESPONSE)


@public_router.get("/ocsp/{encoded:path}", summary="OCSP 查询（GET，Base64 编码请求）")
def ocsp_get(encoded: str, session: DbSession, keys: CaKeys, settings: AppSettings) -> Response:
    """Answer a base64 DER OCSP request in the URL (RFC 6960 appendix A)."""
    try:
        der = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        der = b""
    return Response(
        service.ocsp_response(session=session, keys=keys, settings=settings, request_der=der),
        media_type=OCSP_RESPONSE,
    )


@public_router.post(
    "/enrol", response_model=IssuedOut, status_code=201, summary="设备凭一次性令牌注册"
)
def enrol(
    body: EnrolIn, session: DbSession, keys: CaKeys, settings: AppSettings, actor: RequestActor
) -> IssuedOut:
    """Exchange a one-time token and a CSR for the device certificate.

    Not idempotent by key: the token itself is single-use, a retry is refused as used.
    """
    with audited_refusal(session, actor=actor, action="pki.enrol"):
        row = service.enrol_device(
            session=session,
            keys=keys,
            settings=settings,
            token=body.token,
            csr_pem=body.csr_pem,
            actor=actor,
        )
    return _issued(session, row)


# ---- API: over mutual TLS, with an operator session ------------------------------------


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
        operator_id=principal.operator_id,
        key=key,
        method="POST",
        path=request.url.path,
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


@router.post("/devices", response_model=DeviceOut, status_code=201, summary="登记终端设备")
def register_device(
    body: DeviceIn,
    session: DbSession,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record a workstation, kiosk or card-centre station of an office in scope."""

    def action() -> tuple[int, object]:
        device = service.register_device(
            session=session,
            principal=principal,
            name=body.name,
            kind=body.kind,
            office_id=body.office_id,
            actor=principal.actor,
        )
        return 201, DeviceOut.model_validate(device).model_dump(mode="json")

    return respond_once(
        session=session,
        operator_id=principal.operator_id,
        key=key,
        method="POST",
        path=request.url.path,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/devices/{device_id}/tokens",
    response_model=TokenOut,
    status_code=201,
    summary="签发设备一次性注册令牌",
)
def issue_token(
    device_id: int, body: TokenIn, session: DbSession, principal: CertManager
) -> TokenOut:
    """A one-time enrolment token for a device, shown once.

    Not behind an idempotency record on purpose: the stored response would keep the
    secret. A retry issues another single-use, short-lived token.
    """
    row, token = service.issue_enrolment_token(
        session=session,
        principal=principal,
        device_id=device_id,
        valid_hours=body.valid_hours,
        actor=principal.actor,
    )
    device = session.get(Device, device_id)
    assert device is not None
    return TokenOut(
        device_id=device.id, device_name=device.name, token=token, expires_at=row.expires_at
    )


@router.post("/banks", response_model=BankOut, status_code=201, summary="登记合作银行")
def register_bank(
    body: BankIn,
    session: DbSession,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record a partner bank (province scope)."""

    def action() -> tuple[int, object]:
        bank = service.register_bank(
            session=session,
            principal=principal,
            code=body.code,
            name=body.name,
            actor=principal.actor,
        )
        return 201, BankOut.model_validate(bank).model_dump(mode="json")

    return respond_once(
        session=session,
        operator_id=principal.operator_id,
        key=key,
        method="POST",
        path=request.url.path,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/certificate-requests", response_model=RequestOut, status_code=201, summary="提交证书请求"
)
def submit_request(
    body: RequestIn,
    session: DbSession,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """An operator's own CSR, or one an administrator submits for an operator or a bank."""

    def action() -> tuple[int, object]:
        own = body.profile == "operator" and body.operator_id == principal.operator_id
        if not own and not principal.can(Permission.CERT_MANAGE):
            raise PermissionDenied(detail="只能为自己提交证书请求", code="not_own_request")
        req = service.submit_request(
            session=session,
            principal=principal,
            profile_name=body.profile,
            csr_pem=body.csr_pem,
            operator_id=body.operator_id,
            bank_code=body.bank_code,
            actor=principal.actor,
        )
        return 201, RequestOut.model_validate(req).model_dump(mode="json")

    with audited_refusal(session, actor=principal.actor, action="pki.request_submit"):
        return respond_once(
            session=session,
            operator_id=principal.operator_id,
            key=key,
            method="POST",
            path=request.url.path,
            payload=body.model_dump(mode="json"),
            action=action,
        )


def _decide(
    request_id: int,
    approve: bool,
    session: DbSession,
    keys: CaKeys,
    settings: AppSettings,
    principal: Principal,
    key: str | None,
    request: Request,
) -> JSONResponse:
    def action() -> tuple[int, object]:
        req = service.decide_request(
            session=session,
            keys=keys,
            settings=settings,
            principal=principal,
            request_id=request_id,
            approve=approve,
            actor=principal.actor,
        )
        out = RequestOut.model_validate(req).model_dump(mode="json")
        if req.certificate_id is not None:
            row = session.get(Certificate, req.certificate_id)
            assert row is not None
            out["issued"] = _issued(session, row).model_dump(mode="json")
        return 200, out

    verb = "approve" if approve else "reject"
    with audited_refusal(
        session,
        actor=principal.actor,
        action=f"pki.request_{verb}",
        object_type="request",
        object_id=request_id,
    ):
        return respond_once(
            session=session,
            operator_id=principal.operator_id,
            key=key,
            method="POST",
            path=request.url.path,
            payload={},
            action=action,
        )


@router.post("/certificate-requests/{request_id}/approve", summary="批准证书请求并签发")
def approve_request(
    request_id: int,
    session: DbSession,
    keys: CaKeys,
    settings: AppSettings,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Issue the certificate of a pending request (the response carries it)."""
    return _decide(request_id, True, session, keys, settings, principal, key, request)


@router.post("/certificate-requests/{request_id}/reject", summary="驳回证书请求")
def reject_request(
    request_id: int,
    session: DbSession,
    keys: CaKeys,
    settings: AppSettings,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Refuse a pending request."""
    return _decide(request_id, False, session, keys, settings, principal, key, request)
