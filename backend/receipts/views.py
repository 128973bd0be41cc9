"""``POST /api/v1/receipts`` (an operator has a receipt signed) and the public check
``POST /api/v1/public/receipts/verify`` (anyone, no log-in, no client certificate).

The check takes the token in a JSON body, never in the URL (access logs keep URLs). The
body is read with a size cap and parsed here, so that nothing a stranger sends reaches
a parser that can raise: every unreadable token is ``200 genuine: false`` with a code.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backend.deps import AppSettings, CurrentPrincipal, DbSession, IdempotencyKey
from backend.errors import DomainError, invalid
from backend.idempotency import respond_once
from backend.receipts import service
from backend.receipts.schemas import (
    ReceiptClaimsOut,
    ReceiptIn,
    SignedReceiptOut,
    VerificationIn,
    VerificationOut,
)
from receipts import MAX_TOKEN_CHARS, ReceiptTokenError, read_unverified

#: The largest verification body read: a token and a little JSON around it.
MAX_VERIFY_BODY_BYTES = 4 * MAX_TOKEN_CHARS

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
    """Sign the receipt of one business fact (201); the fact's receipt again if it has one (200).

    The person and amount come from the fact; the operator must see it and do its business.
    """

    def action() -> tuple[int, object]:
        receipt, new = service.issue_for_fact(
            session=session,
            settings=settings,
            principal=principal,
            kind=body.kind,
            fact_id=body.fact_id,
            year=body.year,
        )
        claims = read_unverified(receipt.token)
        out = SignedReceiptOut(token=receipt.token, claims=ReceiptClaimsOut.of(claims))
        return 201 if new else 200, out.model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@public_router.post(
    "/api/v1/public/receipts/verify",
    response_model=VerificationOut,
    summary="核验收据真伪（公开）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": VerificationIn.model_json_schema()}},
        }
    },
)
async def verify(request: Request, settings: AppSettings) -> VerificationOut:
    """Whether the body's ``token`` was signed by one of the backend's receipt keys.

    A body over the cap is ``413 body_too_large``; a body that is not ``{"token": "…"}``
    is ``422``; any token at all, however garbled, is ``200`` with ``genuine``.
    """
    token = await _token_of(request)
    try:
        claims = await run_in_threadpool(service.verify_token, settings=settings, token=token)
    except ReceiptTokenError as exc:
        return VerificationOut(genuine=False, code=exc.code, detail=str(exc))
    return VerificationOut(genuine=True, claims=ReceiptClaimsOut.of(claims))


async def _token_of(request: Request) -> str:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_VERIFY_BODY_BYTES:
            raise DomainError(
                detail=f"请求体不能超过{MAX_VERIFY_BODY_BYTES}字节",
                code="body_too_large",
                status=413,
                title="请求体过大",
            )
    try:
        document = json.loads(bytes(body).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise invalid("body", '请求体须为 JSON：{"token": "…"}', "malformed_json") from exc
    if not isinstance(document, dict) or set(document) != {"token"}:
        raise invalid("token", '请求体须为 {"token": "…"}', "required")
    token = document["token"]
    if not isinstance(token, str):
        raise invalid("token", "令牌须为字符串", "invalid")
    return token
