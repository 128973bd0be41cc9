"""Fixtures of the agent tests (the PC/SC rig is the run's shared one: ``tests/pcsc_rig.py``)."""

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from receipts import EcdsaReceiptSigner, ReceiptClaims, ReceiptKind


@pytest.fixture
def signed_token() -> Callable[..., str]:
    """Tokens signed with a throw-away key (as the backend would sign them)."""
    signer = EcdsaReceiptSigner(key_id="test", private_key=ec.generate_private_key(ec.SECP256R1()))

    def sign(kind: str, amount_fen: int | None = None, number: str = "R2026000001") -> str:
        return signer.sign(
            ReceiptClaims(
                receipt_number=number,
                kind=ReceiptKind(kind),
                amount_fen=amount_fen,
                person="654226********002X",
                issued_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                key_id="test",
            )
        )

    return sign
