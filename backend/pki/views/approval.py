"""Banks, and certificate requests approved by an administrator."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.deps import AppSettings, CurrentPrincipal, DbSession, IdempotencyKey
from backend.idempotency import respond_once
from backend.orgs.service import Principal
from backend.pki import service
from backend.pki.models import Certificate
from backend.pki.refusals import audited_refusal
from backend.pki.schemas import BankIn, BankOut, RequestIn, RequestOut
from backend.pki.views._shared import CaKeys, CertManager, _issued

router = APIRouter()


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
        principal=principal,
        key=key,
        request=request,
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
    """An operator's own CSR (nobody submits one for another operator), or a bank's,
    submitted by a security administrator."""

    def action() -> tuple[int, object]:
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
            principal=principal,
            key=key,
            request=request,
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
            principal=principal,
            key=key,
            request=request,
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
