"""Public paths, no client certificate needed: CA chain, CRL, OCSP, device enrolment.

With TLS configured, the chain, the CRL and OCSP are also served on the plain-HTTP
listener (``backend.tls.RelyingPartyPaths``), since the URLs in certificates are plain
HTTP; enrolment carries a secret one-time token and stays on HTTPS only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.config import Settings
from backend.db import unit_of_work, utcnow
from backend.deps import AppSettings, DbSession, PublicActor, capped_body
from backend.pki import service
from backend.pki.keystore import ca_key_store
from backend.pki.refusals import audited_refusal
from backend.pki.schemas import EnrolIn, IssuedOut
from backend.pki.service.revocation import supersede_due
from backend.pki.views._shared import CaKeys, _issued

public_router = APIRouter(prefix="/pki", tags=["pki"])

OCSP_RESPONSE = "application/ocsp-response"
# An OCSP request names a few certificates (~100 bytes each) and perhaps a signature with
# its chain: a few KiB. Anything larger is refused before it is read into memory.
OCSP_MAX_REQUEST_BYTES = 16 * 1024


@public_router.get("/ca.pem", summary="CA证书链（签发CA与根CA，PEM）")
def ca_chain(session: DbSession) -> Response:
    """What relying parties and workstations trust."""
    return Response(service.chain_pem(session=session), media_type="application/x-pem-file")


@public_router.get("/crl", summary="证书吊销列表（DER）")
def crl(session: DbSession, keys: CaKeys, settings: AppSettings) -> Response:
    """The newest CRL of the issuing CA, published anew first once it is half-way stale."""
    entry = service.current_crl(session=session, keys=keys, settings=settings)
    return Response(
        entry.der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=300"},
    )


@public_router.get("/crl/{issuer_serial}", summary="某一签发CA的证书吊销列表（DER）")
def issuer_crl(
    issuer_serial: str, session: DbSession, keys: CaKeys, settings: AppSettings
) -> Response:
    """The newest CRL of one valid issuing CA (the URL in its certificates; during a
    rotation's overlap both issuing CAs have one), published anew when half-way stale."""
    issuer = service.valid_issuing_ca(session=session, serial=issuer_serial)
    entry = service.current_crl(session=session, keys=keys, settings=settings, issuer=issuer)
    return Response(
        entry.der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=300"},
    )


@public_router.post("/ocsp", summary="OCSP 在线证书状态查询（RFC 6960）")
async def ocsp_post(request: Request) -> Response:
    """Answer a DER OCSP request sent as the POST body (not cacheable by HTTP, RFC 5019);
    a body over 16 KiB is ``413 body_too_large``."""
    body = await capped_body(request, OCSP_MAX_REQUEST_BYTES)
    answer = await run_in_threadpool(_ocsp_answer, request, body)
    return Response(answer.der, media_type=OCSP_RESPONSE)


@public_router.get("/ocsp/{encoded:path}", summary="OCSP 查询（GET，Base64 编码请求）")
async def ocsp_get(encoded: str, request: Request) -> Response:
    """Answer a base64 DER OCSP request in the URL (RFC 6960 appendix A), with the HTTP
    caching headers of RFC 5019 when the response suits every asker (no nonce)."""
    try:
        der = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        der = b""
    answer = await run_in_threadpool(_ocsp_answer, request, der)
    if not answer.cacheable:
        return Response(answer.der, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-store"})
    assert answer.this_update is not None and answer.next_update is not None
    max_age = max(int((answer.next_update - utcnow()).total_seconds()), 0)
    headers = {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "ETag": answer.etag,
        "Last-Modified": _http_date(answer.this_update),
        "Expires": _http_date(answer.next_update),
    }
    if request.headers.get("if-none-match") == answer.etag:
        return Response(status_code=304, headers=headers)
    return Response(answer.der, media_type=OCSP_RESPONSE, headers=headers)


def _ocsp_answer(request: Request, request_der: bytes) -> service.OcspAnswer:
    # The whole answer in one trip to the thread pool: as dependencies, the session, the
    # key store and the settings would each take their own trip, and those trips cost
    # more than a cached answer (the responder's throughput is measured in bench/).
    settings: Settings = request.app.state.settings
    with unit_of_work(request.app.state.session_factory) as session:
        # A renewed certificate past its grace period is revoked before anyone is told.
        supersede_due(session=session)
        keys = ca_key_store(session, settings)
        return service.ocsp_answer(
            session=session, keys=keys, settings=settings, request_der=request_der
        )


def _http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)


@public_router.post(
    "/enrol", response_model=IssuedOut, status_code=201, summary="设备凭一次性令牌注册"
)
def enrol(
    body: EnrolIn, session: DbSession, keys: CaKeys, settings: AppSettings, actor: PublicActor
) -> IssuedOut:
    """Exchange a one-time token and a CSR for the device certificate.

    Over HTTPS no client certificate is asked for (the device has none yet): the server is
    authenticated by the CA chain the device was given, the device by its token.

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
