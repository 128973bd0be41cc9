"""Receipt tokens: a signed token verifies, anything altered or foreign is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _token(payload: bytes, signature: bytes = bytes(64)) -> str:
    part = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"XNBR1.{part}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _payload(**fields: object) -> bytes:
    document = {"amt": 1, "iat": 1_767_225_600, "kid": "receipt-2026", "kind": "contribution"}
    return json.dumps({**document, "no": "R1", "per": "654226********001X", **fields}).encode()


@pytest.mark.parametrize(
    ("token", "code"),
    [
        # Issued-at times no calendar holds (the old parser raised OverflowError/OSError).
        (_token(_payload(iat=10**18)), "bad_time"),
        (_token(_payload(iat=-(10**15))), "bad_time"),
        # Nesting deep enough to exhaust the JSON parser's recursion.
        (_token(b"[" * 1400), "too_long"),
        (_token(b"{" * 600), "malformed"),
        (_token(b'{"amt":' + b"[" * 300 + b"]" * 300 + b"}"), "malformed"),
        # An integer too long for int() (ValueError, not a JSONDecodeError).
        (_token(b'{"amt":' + b"9" * 600 + b"}"), "malformed"),
        # Parts that are not base64url, or not ASCII at all.
        ("XNBR1.e30=.AAAA", "malformed"),
        ("XNBR1.ÿÿÿÿ.AAAA", "malformed"),
        ("XNBR1.e30.\x00\x00", "malformed"),
        ("XNBR1.A.AAAA", "malformed"),
        ("XNBR1." + "A" * 2000 + ".AAAA", "too_long"),
    ],
)
def test_hostile_tokens_are_refused_with_a_code_never_an_exception(token: str, code: str) -> None:
    with pytest.raises(ReceiptTokenError) as caught:
        KeyRingVerifier({"receipt-2026": KEY.public_key()}).verify(token)
    assert caught.value.code == code


_TOKEN_TEXT = st.one_of(
    st.text(max_size=1200),
    st.binary(max_size=900).map(lambda b: _token(b)),
    st.tuples(st.binary(max_size=300), st.binary(max_size=80)).map(lambda p: _token(*p)),
    st.builds(
        lambda iat, amt: _token(_payload(iat=iat, amt=amt)),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    ),
    st.text(alphabet="XNBR1.-_=AZaz09", max_size=300),
)


@settings(max_examples=600, deadline=None)
@given(_TOKEN_TEXT)
def test_any_text_is_a_genuine_token_or_a_token_error(token: str) -> None:
    verifier = KeyRingVerifier({"receipt-2026": KEY.public_key()})
    try:
        verifier.verify(token)
    except ReceiptTokenError as exc:
        assert exc.code in {"malformed", "too_long", "bad_time", "unknown_key", "bad_signature"}
