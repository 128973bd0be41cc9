"""Signed tokens and sample receipts shared by the printer tests."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric import ec

from device_drivers.printer import (
    Counter,
    PensionMonth,
    Receipt,
    SourceAmount,
    account_statement,
    card_receipt,
    contribution_receipt,
    pension_statement,
    survival_receipt,
)
from receipts import (
    EcdsaReceiptSigner,
    KeyRingVerifier,
    ReceiptClaims,
    ReceiptKind,
    mask_id_number,
)

KEY = ec.generate_private_key(ec.SECP256R1())
SIGNER = EcdsaReceiptSigner(key_id="receipt-test", private_key=KEY)
VERIFIER = KeyRingVerifier({"receipt-test": KEY.public_key()})
COUNTER = Counter(office="夏孜盖乡社会保障所", operator="乌兰")
ID_NUMBER = "654226195009080011"
AT = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)


def token(kind: ReceiptKind, number: str, amount_fen: int | None = None) -> str:
    """A token signed by the test key."""
    claims = ReceiptClaims(number, kind, amount_fen, mask_id_number(ID_NUMBER), AT, "receipt-test")
    return SIGNER.sign(claims)


def every_layout(name: str = "巴特尔·孟克") -> list[Receipt]:
    """One receipt of each layout for ``name``."""
    return [
        contribution_receipt(
            token=token(ReceiptKind.CONTRIBUTION, "JF2026000001", 50_000),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            contribution_year=2026,
            grade_fen=50_000,
            amount_fen=50_000,
            channel="现金",
        ),
        card_receipt(
            token=token(ReceiptKind.CARD_ISSUED, "KA2026000002"),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            card_number="A65422600",
            bank="农村信用社 6217 **** 0011",
        ),
        card_receipt(
            token=token(ReceiptKind.CARD_LOSS, "GS2026000003"),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            card_number="A65422600",
            bank="农村信用社 6217 **** 0011",
            loss_reported=True,
        ),
        survival_receipt(
            token=token(ReceiptKind.SURVIVAL, "RZ2026000004"),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            method="现场认证",
            valid_until=dt.date(2027, 3, 1),
        ),
        pension_statement(
            token=token(ReceiptKind.PENSION_STATEMENT, "DZ2026000005", 46_000),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            months=[
                PensionMonth("2026-01", 21_000, 2_000),
                PensionMonth("2026-02", 21_000, 2_000),
            ],
        ),
        account_statement(
            token=token(ReceiptKind.ACCOUNT_STATEMENT, "DZ2026000006", 443_83),
            counter=COUNTER,
            name=name,
            id_number=ID_NUMBER,
            year=2025,
            opening_fen=0,
            credits=[SourceAmount("个人缴费", 400_00), SourceAmount("政府补贴", 40_00)],
            interest_fen=3_83,
            closing_fen=443_83,
        ),
    ]
