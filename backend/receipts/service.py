"""Receipt signing keys, signing and verification.

Keys are P-256, one file per key id in ``receipt_key_dir`` (``<kid>.key.pem``,
PKCS#8 encrypted under ``receipt_key_passphrase``), kept by the CA's
:class:`~backend.pki.keystore.FileKeyStore`. New receipts are signed with
``receipt_key_id``; every key in the directory stays valid for verification, so a
key can be rotated while receipts already in residents' hands keep verifying. The
signing key is created on first use when missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from cryptography.hazmat.primitives.asymmetric import ec

from backend.config import Settings
from backend.errors import Conflict
from backend.pki.keystore import FileKeyStore
from receipts import (
    EcdsaReceiptSigner,
    KeyRingVerifier,
    ReceiptClaims,
    ReceiptKind,
    mask_id_number,
)

log = logging.getLogger(__name__)
_KEY_SUFFIX = ".key.pem"


def _store(settings: Settings) -> FileKeyStore:
    return FileKeyStore(
        settings.receipt_key_dir, settings.receipt_key_passphrase.get_secret_value()
    )


def _ec_key(key: object, key_id: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise Conflict(detail=f"收据签名密钥 {key_id} 不是 P-256 密钥", code="receipt_key_invalid")
    return key


def signer(settings: Settings) -> EcdsaReceiptSigner:
    """The signer of new receipts (its key created on first use)."""
    key_id = settings.receipt_key_id
    store = _store(settings)
    if not (settings.receipt_key_dir / f"{key_id}{_KEY_SUFFIX}").exists():
        log.warning("creating receipt signing key %s in %s", key_id, settings.receipt_key_dir)
        store.generate(label=key_id, algorithm="ec-p256")
    return EcdsaReceiptSigner(
        key_id=key_id, private_key=_ec_key(store.signing_key(label=key_id), key_id)
    )


def verifier(settings: Settings) -> KeyRingVerifier:
    """A verifier holding the public half of every receipt key in the directory."""
    store = _store(settings)
    public_keys = {}
    for path in sorted(settings.receipt_key_dir.glob(f"*{_KEY_SUFFIX}")):
        key_id = path.name.removesuffix(_KEY_SUFFIX)
        public_keys[key_id] = _ec_key(store.signing_key(label=key_id), key_id).public_key()
    return KeyRingVerifier(public_keys)


def verify_token(*, settings: Settings, token: str) -> ReceiptClaims:
    """The claims of a genuine token; ``ReceiptTokenError`` (with its code) otherwise."""
    return verifier(settings).verify(token)


def new_receipt_number(now: dt.datetime) -> str:
    """A receipt number for the barcode: ``R`` + the Beijing date + 8 random hex digits."""
    beijing = now.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return f"R{beijing:%Y%m%d}{secrets.token_hex(4).upper()}"


def sign_receipt(
    *,
    settings: Settings,
    kind: ReceiptKind,
    id_number: str,
    amount_fen: int | None,
    receipt_number: str | None,
    now: dt.datetime | None = None,
) -> tuple[str, ReceiptClaims]:
    """Sign the claims of one receipt; return the token and what it vouches for."""
    issued_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    receipt_signer = signer(settings)
    claims = ReceiptClaims(
        receipt_number=receipt_number or new_receipt_number(issued_at),
        kind=kind,
        amount_fen=amount_fen,
        person=mask_id_number(id_number),
        issued_at=issued_at,
        key_id=receipt_signer.key_id,
    )
    return receipt_signer.sign(claims), claims
