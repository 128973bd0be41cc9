"""``POST /api/v1/receipts`` (an operator has a receipt signed) and the public check
``GET /api/v1/public/receipts/verify`` (anyone, no log-in, no client certificate)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backend.audit.service import record
from backend.deps import AppSettings, CurrentPrincipal, DbSession, IdempotencyKey
from backend.idempotency import respond_once
from backend.receipts import service
from backend.receipts.schemas import (
    ReceiptClaimsOut,
    ReceiptIn,
    SignedReceiptOut,
    VerificationOut,
)
from receipts import ReceiptTokenError

router = APIRouter(tags=["receipts"])
public_router = APIRouter(tags=["receipts"])


@router.post("/receipts", response_model=SignedReceiptOut, status_code=201, summary="签发收据令牌")
def sign(
    body: ReceiptIn,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Sign a receipt's claims for the QR code; a retry with the same key returns the same token."""

    def action() -> tuple[int, object]:
        token, claims = service.sign_receipt(
            settings=settings,
            kind=body.kind,
            id_number=body.id_number,
            amount_fen=body.amount_fen,
            receipt_number=body.receipt_number,
        )
        record(
            session=session,
            actor=principal.actor,
            action="receipt.signed",
            object_type="receipt",
            object_id=claims.receipt_number,
            detail={"kind": claims.kind.value, "amount_fen": claims.amount_fen},
        )
        out = SignedReceiptOut(token=token, claims=ReceiptClaimsOut.of(claims))
        return 201, out.model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@public_router.get(
    "/api/v1/public/receipts/verify",
    response_model=VerificationOut,
    summary="核验收据真伪（公开）",
)
def verify(
    settings: AppSettings, token: Annotated[str, Query(min_length=1, max_length=2000)]
) -> VerificationOut:
    """Whether ``token`` was signed by one of the backend's receipt keys, and what it says."""
    try:
        claims = service.verifier(settings).verify(token)
    except ReceiptTokenError as exc:
        return VerificationOut(genuine=False, code=exc.code, detail=str(exc))
    return VerificationOut(genuine=True, claims=ReceiptClaimsOut.of(claims))
