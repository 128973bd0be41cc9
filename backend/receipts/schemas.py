"""Receipt signing and verification, in and out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from receipts import ReceiptClaims, ReceiptKind


class ReceiptIn(BaseModel):
    """What the counter asks the backend to vouch for."""

    model_config = ConfigDict(extra="forbid")

    kind: ReceiptKind
    id_number: Annotated[str, Field(min_length=18, max_length=18, description="公民身份号码")]
    amount_fen: Annotated[int | None, Field(ge=0, description="金额（分），无金额的回执为空")] = (
        None
    )
    receipt_number: Annotated[
        str | None,
        Field(
            min_length=4,
            max_length=40,
            pattern=r"^[\x21-\x7e]+$",
            description="业务的收据号（可打印ASCII，作条码）；为空时由后台编号",
        ),
    ] = None


class ReceiptClaimsOut(BaseModel):
    """What a token vouches for."""

    receipt_number: str
    kind: ReceiptKind
    amount_fen: int | None
    person: str
    issued_at: dt.datetime
    key_id: str

    @classmethod
    def of(cls, claims: ReceiptClaims) -> ReceiptClaimsOut:
        """From the token library's claims."""
        return cls(
            receipt_number=claims.receipt_number,
            kind=claims.kind,
            amount_fen=claims.amount_fen,
            person=claims.person,
            issued_at=claims.issued_at,
            key_id=claims.key_id,
        )


class SignedReceiptOut(BaseModel):
    """A signed token for the receipt's QR code."""

    token: str
    claims: ReceiptClaimsOut


class VerificationIn(BaseModel):
    """``POST /public/receipts/verify``: the token from the receipt's QR code."""

    token: Annotated[str, Field(description="收据二维码中的令牌 XNBR1.…")]


class VerificationOut(BaseModel):
    """Whether a token is genuine; what it vouches for, or why it is not."""

    genuine: bool
    claims: ReceiptClaimsOut | None = None
    code: str | None = None
    detail: str | None = None
