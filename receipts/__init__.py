"""Receipts as pure logic: the signed token a receipt's QR code carries and its checks.

No I/O. The backend signs and verifies (its endpoint comes with the agent issue); the
printer driver prints the token; the counter page or a phone checks it.
"""

from receipts.token import (
    MAX_TOKEN_CHARS,
    TOKEN_PREFIX,
    EcdsaReceiptSigner,
    KeyRingVerifier,
    ReceiptClaims,
    ReceiptKind,
    ReceiptSigner,
    ReceiptTokenError,
    ReceiptVerifier,
    mask_id_number,
    read_unverified,
)

__all__ = [
    "MAX_TOKEN_CHARS",
    "TOKEN_PREFIX",
    "EcdsaReceiptSigner",
    "KeyRingVerifier",
    "ReceiptClaims",
    "ReceiptKind",
    "ReceiptSigner",
    "ReceiptTokenError",
    "ReceiptVerifier",
    "mask_id_number",
    "read_unverified",
]
