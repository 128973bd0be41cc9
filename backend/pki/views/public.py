"""Public paths, no client certificate needed: CA chain, CRL, OCSP, device enrolment."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.deps import AppSettings, DbSession, RequestActor
from backend.pki import service
from backend.pki.refusals import audited_refusal
from backend.pki.schemas import EnrolIn, IssuedOut
from backend.pki.views._shared import CaKeys, _issued

public_router = APIRouter(prefix="/pki", tags=["pki"])

OCSP_RESPONSE = "application/ocsp-response"


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
