"""Receipt tokens as anyone may type them into the public check: only ``ReceiptTokenError``.

Three shapes: any text; the token's shape around any payload bytes; and the token's
shape around a JSON object close to a real payload (the right field names with values of
any JSON type), so the field checks behind the decoding are reached.
"""

from __future__ import annotations

import base64
import contextlib
import json

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from receipts import KeyRingVerifier, ReceiptTokenError, read_unverified
from tests.fuzz.support import fuzz

VERIFIER = KeyRingVerifier({"receipts-1": ec.generate_private_key(ec.SECP256R1()).public_key()})
FIELDS = ("amt", "iat", "kid", "kind", "no", "per")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(payload: bytes, signature: bytes) -> str:
    return f"XNBR1.{_b64(payload)}.{_b64(signature)}"


json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(("contribution", "receipts-1", "R1")),
    st.integers(10**9, 2 * 10**9),
)
payloads = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), json_value, max_size=8).map(
        lambda d: json.dumps(d, ensure_ascii=False).encode()
    ),
)


def _check(token: str) -> None:
    for read in (VERIFIER.verify, read_unverified):
        with contextlib.suppress(ReceiptTokenError):
            read(token)


@fuzz
@given(st.text(max_size=600))
def test_any_text(token: str) -> None:
    _check(token)


@fuzz
@given(payloads, st.binary(min_size=60, max_size=68))
def test_token_shape_around_any_payload(payload: bytes, signature: bytes) -> None:
    _check(_token(payload, signature))
