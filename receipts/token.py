"""Signed receipt tokens: what a receipt's QR code carries, and how it is checked.

A token is three dot-separated parts, like a compact JWS with a fixed header::

    XNBR1.<base64url(payload)>.<base64url(signature)>

``payload`` is canonical JSON (sorted keys, no spaces, UTF-8) of
:class:`ReceiptClaims`; ``signature`` is ECDSA P-256 over SHA-256 of the ASCII text
``XNBR1.<base64url(payload)>``, as the 64 bytes ``r || s``. The version prefix is
inside the signed text, so a token cannot be relabelled to another format. P-256 is
the curve the backend's CA already uses; the key id (``kid``) lets the backend
rotate receipt keys while old receipts stay verifiable.

The person is carried as the masked ID number printed on the receipt (first six and
last four characters), never the whole number: the QR code is on paper the resident
takes home. The backend, which keeps the receipt, compares the rest. A day-close slip
(日结单) is for no person: it carries the office's code there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

TOKEN_PREFIX = "XNBR1"
_SIGNATURE_BYTES = 64
_COORDINATE_BYTES = 32
#: The longest token accepted (a genuine one is about 300 characters); checked first.
MAX_TOKEN_CHARS = 1024
# A token is ASCII: the prefix, then two base64url parts (no padding), dot-separated.
_TOKEN_SHAPE = re.compile(r"XNBR1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
# Epoch seconds a receipt may carry: from the scheme's start (2009) to the year 2100.
_EARLIEST_IAT = 1_230_768_000
_LATEST_IAT = 4_102_444_800


class ReceiptKind(StrEnum):
    """What a receipt records; the value is what the token carries."""

    CONTRIBUTION = "contribution"  # 缴费收据
    CARD_ISSUED = "card_issued"  # 社保卡发卡
    CARD_LOSS = "card_loss"  # 社保卡挂失
    SURVIVAL = "survival"  # 生存认证
    PENSION_STATEMENT = "pension_statement"  # 养老金对账单
    ACCOUNT_STATEMENT = "account_statement"  # 个人账户对账单
    CONTRIBUTION_CERTIFICATE = "contribution_certificate"  # 缴费证明
    DAY_CLOSE = "day_close"  # 日结单 (an office's signed day: ``per`` is the office code)


class ReceiptTokenError(ValueError):
    """A receipt token is not genuine or not readable; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReceiptClaims:
    """What the backend vouches for on one receipt."""

    receipt_number: str
    kind: ReceiptKind
    amount_fen: int | None
    person: str
    issued_at: dt.datetime
    key_id: str

    def to_payload(self) -> bytes:
        """The canonical JSON bytes that are signed."""
        document = {
            "amt": self.amount_fen,
            "iat": int(self.issued_at.timestamp()),
            "kid": self.key_id,
            "kind": self.kind.value,
            "no": self.receipt_number,
            "per": self.person,
        }
        return json.dumps(
            document, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode("utf-8")

    @classmethod
    def from_payload(cls, payload: bytes) -> ReceiptClaims:
        """Parse canonical JSON bytes; raise ``ReceiptTokenError`` when a field is wrong."""
        if not payload.startswith(b"{") or b"[" in payload or payload.count(b"{") != 1:
            # A payload is one flat object: nothing nested is ever parsed.
            raise ReceiptTokenError("malformed", "receipt token payload is not a flat object")
        try:
            document = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ReceiptTokenError("malformed", "receipt token payload is not JSON") from exc
        if not isinstance(document, dict) or set(document) != {
            "amt",
            "iat",
            "kid",
            "kind",
            "no",
            "per",
        }:
            raise ReceiptTokenError("malformed", "receipt token payload has the wrong fields")
        amount, issued, key_id = document["amt"], document["iat"], document["kid"]
        number, person, kind = document["no"], document["per"], document["kind"]
        if amount is not None and (type(amount) is not int or amount < 0):
            raise ReceiptTokenError("malformed", "receipt amount must be whole fen")
        if type(issued) is not int:
            raise ReceiptTokenError("malformed", "receipt time must be epoch seconds")
        if not _EARLIEST_IAT <= issued <= _LATEST_IAT:
            raise ReceiptTokenError("bad_time", "receipt time is out of range")
        if not all(isinstance(v, str) and v for v in (key_id, number, person)):
            raise ReceiptTokenError("malformed", "receipt number, person and key id are needed")
        try:
            receipt_kind = ReceiptKind(kind)
        except ValueError as exc:
            raise ReceiptTokenError("malformed", f"unknown receipt kind {kind!r}") from exc
        return cls(
            receipt_number=number,
            kind=receipt_kind,
            amount_fen=amount,
            person=person,
            issued_at=dt.datetime.fromtimestamp(issued, tz=dt.UTC),
            key_id=key_id,
        )


def mask_id_number(id_number: str) -> str:
    """The ID number as a receipt shows it: first six and last four characters."""
    return f"{id_number[:6]}{'*' * (len(id_number) - 10)}{id_number[-4:]}"


class ReceiptSigner(Protocol):
    """Turns claims into a token (the backend; tests use a local key)."""

    def sign(self, claims: ReceiptClaims) -> str:
        """Return the token for ``claims``."""
        ...


class ReceiptVerifier(Protocol):
    """Checks a token and returns what it vouches for (offline key ring or backend call)."""

    def verify(self, token: str) -> ReceiptClaims:
        """Return the claims; raise ``ReceiptTokenError`` for a forged or unreadable token."""
        ...


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # ``text`` has passed _TOKEN_SHAPE: only the length can still be wrong (4n + 1).
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReceiptTokenError("malformed", "receipt token is not base64url") from exc


class EcdsaReceiptSigner:
    """Signs receipt claims with one P-256 private key named ``key_id``."""

    def __init__(self, *, key_id: str, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("receipt keys are P-256")
        self.key_id = key_id
        self._private_key = private_key

    def sign(self, claims: ReceiptClaims) -> str:
        """Return the token for ``claims`` (whose ``key_id`` must be this signer's)."""
        if claims.key_id != self.key_id:
            raise ValueError(f"claims name key {claims.key_id!r}, signer holds {self.key_id!r}")
        signed_text = f"{TOKEN_PREFIX}.{_b64encode(claims.to_payload())}"
        der = self._private_key.sign(signed_text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return f"{signed_text}.{_b64encode(raw)}"


def read_unverified(token: str) -> ReceiptClaims:
    """Parse a token's claims without checking the signature (for display only)."""
    return _split(token)[1]


def _split(token: str) -> tuple[str, ReceiptClaims, bytes]:
    """Shape and size first (no decoding can raise on them), then the parts."""
    if not isinstance(token, str):
        raise ReceiptTokenError("malformed", "a receipt token is text")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise ReceiptTokenError(
            "too_long", f"a receipt token has at most {MAX_TOKEN_CHARS} characters"
        )
    shape = _TOKEN_SHAPE.fullmatch(token)
    if shape is None:
        raise ReceiptTokenError(
            "malformed", f"a receipt token is {TOKEN_PREFIX}.<payload>.<signature>"
        )
    payload_part, signature_part = shape.groups()
    signature = _b64decode(signature_part)
    if len(signature) != _SIGNATURE_BYTES:
        raise ReceiptTokenError("malformed", "receipt signature has the wrong length")
    claims = ReceiptClaims.from_payload(_b64decode(payload_part))
    return f"{TOKEN_PREFIX}.{payload_part}", claims, signature


class KeyRingVerifier:
    """Verifies tokens offline against the public keys the backend publishes, by key id."""

    def __init__(self, public_keys: Mapping[str, ec.EllipticCurvePublicKey]) -> None:
        self._public_keys = dict(public_keys)

    def verify(self, token: str) -> ReceiptClaims:
        """Return the claims of a genuine token; raise ``ReceiptTokenError`` otherwise."""
        signed_text, claims, signature = _split(token)
        public_key = self._public_keys.get(claims.key_id)
        if public_key is None:
            raise ReceiptTokenError("unknown_key", f"no receipt key {claims.key_id!r}")
        der = encode_dss_signature(
            int.from_bytes(signature[:_COORDINATE_BYTES], "big"),
            int.from_bytes(signature[_COORDINATE_BYTES:], "big"),
        )
        try:
            public_key.verify(der, signed_text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise ReceiptTokenError("bad_signature", "receipt signature does not match") from exc
        return claims
