"""Receipt tokens: a signed token verifies, anything altered or foreign is refused."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from receipts import (
    EcdsaReceiptSigner,
    KeyRingVerifier,
    ReceiptClaims,
    ReceiptKind,
    ReceiptTokenError,
    mask_id_number,
    read_unverified,
)

KEY = ec.generate_private_key(ec.SECP256R1())
CLAIMS = ReceiptClaims(
    receipt_number="R6542262000012026000001",
    kind=ReceiptKind.CONTRIBUTION,
    amount_fen=50_000,
    person=mask_id_number("65422619570312001X"),
    issued_at=dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC),
    key_id="receipt-2026",
)


def test_signed_token_verifies_to_the_same_claims() -> None:
    token = EcdsaReceiptSigner(key_id="receipt-2026", private_key=KEY).sign(CLAIMS)
    assert token.startswith("XNBR1.")
    assert KeyRingVerifier({"receipt-2026": KEY.public_key()}).verify(token) == CLAIMS
    assert read_unverified(token).person == "654226********001X"


def test_changed_amount_is_detected() -> None:
    token = EcdsaReceiptSigner(key_id="receipt-2026", private_key=KEY).sign(CLAIMS)
    prefix, payload, signature = token.split(".")
    forged_payload = base64.urlsafe_b64decode(payload + "==").replace(b"50000", b"90000")
    forged = ".".join(
        [prefix, base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode(), signature]
    )
    with pytest.raises(ReceiptTokenError) as caught:
        KeyRingVerifier({"receipt-2026": KEY.public_key()}).verify(forged)
    assert caught.value.code == "bad_signature"


def test_token_signed_by_another_key_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = EcdsaReceiptSigner(key_id="receipt-2026", private_key=other).sign(CLAIMS)
    with pytest.raises(ReceiptTokenError, match="does not match"):
        KeyRingVerifier({"receipt-2026": KEY.public_key()}).verify(token)
    with pytest.raises(ReceiptTokenError) as caught:
        KeyRingVerifier({}).verify(token)
    assert caught.value.code == "unknown_key"


@pytest.mark.parametrize(
    "token", ["", "XNBR1.abc", "JWT.e30.e30", "XNBR1.e30.AAAA", "XNBR1.!!!.AAAA"]
)
def test_malformed_tokens_are_refused_with_a_code(token: str) -> None:
    with pytest.raises(ReceiptTokenError) as caught:
        KeyRingVerifier({"receipt-2026": KEY.public_key()}).verify(token)
    assert caught.value.code == "malformed"
