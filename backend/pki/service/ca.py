"""The CA's own certificates: key labels, fingerprints, parsing, the issuing CA and its chain."""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.pki.models import Certificate

ISSUING_KEY_LABEL = "issuing-ca"

ROOT_KEY_LABEL = "root-ca"


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lower-case hex (how certificates are looked up)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def load_certificate(row: Certificate) -> x509.Certificate:
    """The ``x509`` object of an inventory row."""
    return _parse_pem(row.pem)


@lru_cache(maxsize=64)
def _parse_pem(pem: str) -> x509.Certificate:
    # CA certificates are parsed on every signature and OCSP answer; they rarely change.
    return x509.load_pem_x509_certificate(pem.encode())


def issuing_ca(*, session: Session) -> Certificate:
    """The province's online issuing CA (the newest valid one)."""
    row = session.scalar(
        select(Certificate)
        .where(Certificate.profile == "issuing_ca", Certificate.state == "valid")
        .order_by(Certificate.id.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(detail="尚未建立签发CA，请先运行 xnb ca init", code="ca_missing")
    return row


def issuing_cas(*, session: Session) -> list[Certificate]:
    """Every valid issuing CA, newest first: two during an issuing-CA rotation's overlap."""
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.profile == "issuing_ca", Certificate.state == "valid")
            .order_by(Certificate.id.desc())
        )
    )


def valid_issuing_ca(*, session: Session, serial: str) -> Certificate:
    """A valid issuing CA by serial (the current one or one still in its overlap), or 404."""
    ca = next((ca for ca in issuing_cas(session=session) if ca.serial == serial.lower()), None)
    if ca is None:
        raise NotFound(detail=f"没有有效的签发CA {serial}", code="ca_missing")
    return ca


def chain_pem(*, session: Session) -> str:
    """The valid issuing CAs (newest first) followed by their root, PEM: what relying parties
    and the mutual-TLS listener trust (both issuing CAs while a rotation overlaps)."""
    cas = issuing_cas(session=session)
    if not cas:
        issuing_ca(session=session)  # raises the usual ca_missing
    root = session.get(Certificate, cas[0].issuer_id) if cas[0].issuer_id else None
    return "".join(ca.pem for ca in cas) + (root.pem if root else "")
