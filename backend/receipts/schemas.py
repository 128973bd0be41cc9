"""Receipt signing and verification, in and out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from receipts import ReceiptClaims, ReceiptKind


class ReceiptIn(BaseModel):
    """Which business fact the counter asks a receipt for; the backend reads the rest."""

    model_config = ConfigDict(extra="forbid")

    kind: ReceiptKind
    fact_id: Annotated[
        int,
        Field(
            ge=1,
            le=2**63 - 1,
            description=(
                "业务记录编号：缴费收据为柜面收款编号，资格认证为认证编号，"
                "发卡/挂失为社保卡业务记录编号，养老金对账单为待遇编号，"
                "个人账户对账单与缴费证明为人员编号"
            ),
        ),
    ]
    year: Annotated[
        int | None,
        Field(ge=2009, le=2100, description="养老金对账单、个人账户对账单的年度（其他收据不填）"),
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
