"""Where CA private keys live: behind a small interface, in the database or the HSM.

Keys are PKCS#8, encrypted with ``BestAvailableEncryption`` under a passphrase from
the settings (issuing CA, in the database) or typed at the ceremony (the offline
root, in a directory that is meant to leave the server). Decrypted keys are kept
in process memory, keyed by the hash of their encrypted form: decryption is a
deliberately slow key derivation, too slow to run per OCSP response. With
``XNB_KEY_STORE=pkcs11`` the keys are in the token instead
(:mod:`backend.pki.keystore_pkcs11`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Conflict, InvalidInput, NotFound
from backend.pki.keystore_pkcs11 import Pkcs11KeyStore
from backend.pki.models import CaKey

ALGORITHMS = ("ec-p256", "rsa-2048", "rsa-3072")
_decrypted: dict[str, CertificateIssuerPrivateKeyTypes] = {}
_lock = threading.Lock()


class KeyStore(Protocol):
    """Creates CA keys and hands out the signing key for a label."""

    def generate(self, *, label: str, algorithm: str) -> CertificateIssuerPrivateKeyTypes:
        """Create and store a new key; refuse an existing label."""
        ...

    def signing_key(self, *, label: str) -> CertificateIssuerPrivateKeyTypes:
        """The key to sign with (an HSM returns a handle that signs inside the device)."""
        ...


def new_private_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """A fresh key of one of ``ALGORITHMS``."""
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise InvalidInput(detail=f"不支持的密钥算法 {algorithm}", code="key_algorithm_unsupported")


def _encrypt(key: CertificateIssuerPrivateKeyTypes, passphrase: str) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


def _decrypt(encrypted_pem: str, passphrase: str) -> CertificateIssuerPrivateKeyTypes:
    cache_key = hashlib.sha256(encrypted_pem.encode()).hexdigest()
    with _lock:
        cached = _decrypted.get(cache_key)
    if cached is not None:
        return cached
    try:
        key = serialization.load_pem_private_key(encrypted_pem.encode(), passphrase.encode())
    except (ValueError, TypeError) as exc:
        raise Conflict(detail="CA私钥无法解密：口令不正确", code="ca_key_locked") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise Conflict(detail="CA私钥类型不受支持", code="ca_key_unsupported")
    with _lock:
        _decrypted[cache_key] = key
    return key


class DatabaseKeyStore:
    """The online issuing CA's key, encrypted in the ``pki_keys`` table."""

    def __init__(self, session: Session, passphrase: str) -> None:
        self._session = session
        self._passphrase = passphrase

    def generate(self, *, label: str, algorithm: str) -> CertificateIssuerPrivateKeyTypes:
        """Create and store a new key; refuse an existing label."""
        if self._session.scalar(select(CaKey).where(CaKey.label == label)):
            raise Conflict(detail=f"密钥 {label} 已存在", code="ca_key_exists")
        key = new_private_key(algorithm)
        self._session.add(
            CaKey(label=label, algorithm=algorithm, encrypted_pem=_encrypt(key, self._passphrase))
        )
        self._session.flush()
        return key

    def signing_key(self, *, label: str) -> CertificateIssuerPrivateKeyTypes:
        """The decrypted key (cached in process memory)."""
        row = self._session.scalar(select(CaKey).where(CaKey.label == label))
        if row is None:
            raise NotFound(detail=f"CA密钥 {label} 不存在，请先运行 xnb ca init", code="ca_missing")
        return _decrypt(row.encrypted_pem, self._passphrase)


class FileKeyStore:
    """Keys as encrypted PEM files in a directory: the offline root's medium."""

    def __init__(self, directory: Path, passphrase: str) -> None:
        self._directory = directory
        self._passphrase = passphrase

    def _path(self, label: str) -> Path:
        return self._directory / f"{label}.key.pem"

    def generate(self, *, label: str, algorithm: str) -> CertificateIssuerPrivateKeyTypes:
        """Create and write a new key file; refuse to overwrite one.

        The file appears whole or not at all, mode 0600 from its first byte: it is written
        under a temporary name and linked into place, so a reader never sees half a key
        and of two processes creating it at once exactly one wins (the other: Conflict).
        """
        path = self._path(label)
        if path.exists():
            raise Conflict(detail=f"密钥文件 {path} 已存在", code="ca_key_exists")
        key = new_private_key(algorithm)
        self._directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(_encrypt(key, self._passphrase))
            os.link(temporary, path)
        except FileExistsError as exc:
            raise Conflict(detail=f"密钥文件 {path} 已存在", code="ca_key_exists") from exc
        finally:
            temporary.unlink(missing_ok=True)
        return key

    def signing_key(self, *, label: str) -> CertificateIssuerPrivateKeyTypes:
        """The decrypted key from its file."""
        path = self._path(label)
        if not path.exists():
            raise NotFound(detail=f"密钥文件 {path} 不存在", code="ca_missing")
        return _decrypt(path.read_text(), self._passphrase)


def ca_key_store(session: Session, settings: Settings) -> KeyStore:
    """The configured store of the online CA's keys: encrypted in the database, or the HSM."""
    if settings.key_store == "pkcs11":
        return Pkcs11KeyStore.from_settings(settings)
    return DatabaseKeyStore(session, settings.pki_passphrase.get_secret_value())
