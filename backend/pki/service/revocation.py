"""Revocation and the CRL.

The CRL is published on every revocation, and by the running backend itself: the first
``GET /pki/crl`` after the newest CRL has passed its refresh point (half its validity)
publishes a new one (``current_crl``); ``xnb ca crl`` stays for a manual publication.
Publishers are serialised, so several processes never issue the same CRL number.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.auth.models import OperatorSession
from backend.config import Settings
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied, invalid
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate, Crl
from backend.pki.service.ca import ISSUING_KEY_LABEL, issuing_ca, load_certificate

# The advisory lock that serialises CRL publication (an arbitrary constant: "xnb-crl").
CRL_LOCK_KEY = int.from_bytes(b"xnb-crl", "big")

REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


def revoke(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    certificate: Certificate,
    reason: str,
    actor: Actor,
) -> Certificate:
    """Revoke with a reason; sessions bound to it end and the CRL is published again."""
    if reason not in REVOCATION_REASONS:
        raise invalid("reason", f"吊销原因应为 {', '.join(REVOCATION_REASONS)} 之一")
    if certificate.profile in ("root_ca", "issuing_ca"):
        raise PermissionDenied(detail="CA证书不能通过此接口吊销", code="ca_revocation_refused")
    if certificate.state == "revoked":
        raise Conflict(detail=f"证书 {certificate.serial} 已吊销", code="already_revoked")
    certificate.state = "revoked"
    certificate.revoked_at = utcnow()
    certificate.revocation_reason = reason
    session.execute(
        update(OperatorSession)
        .where(
            or_(
                OperatorSession.certificate_id == certificate.id,
                OperatorSession.device_fingerprint == certificate.fingerprint,
            ),
            OperatorSession.revoked_at.is_(None),
        )
        .values(revoked_at=certificate.revoked_at)
    )
    record(
        session=session,
        actor=actor,
        action="pki.revoke",
        object_type="certificate",
        object_id=certificate.id,
        detail={"serial": certificate.serial, "holder": certificate.holder, "reason": reason},
    )
    issuer = session.get(Certificate, certificate.issuer_id) if certificate.issuer_id else None
    generate_crl(session=session, keys=keys, settings=settings, issuer=issuer)
    return certificate


def generate_crl(
    *, session: Session, keys: KeyStore, settings: Settings, issuer: Certificate | None = None
) -> Crl:
    """Sign and store a new CRL of an issuing CA, the current one unless ``issuer`` is given
    (on revocation, when the newest ages, by hand)."""
    _serialise_publication(session)
    ca_row = issuer or issuing_ca(session=session)
    ca_cert = load_certificate(ca_row)
    ca_key = keys.signing_key(label=ca_row.key_label or ISSUING_KEY_LABEL)
    number = (
        session.scalar(select(func.max(Crl.number)).where(Crl.issuer_id == ca_row.id)) or 0
    ) + 1
    now = utcnow()
    next_update = now + dt.timedelta(hours=settings.pki_crl_hours)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    revoked = session.scalars(
        select(Certificate).where(
            Certificate.issuer_id == ca_row.id, Certificate.state == "revoked"
        )
    )
    for row in revoked:
        assert row.revoked_at is not None and row.revocation_reason is not None
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(row.revoked_at)
            .add_extension(x509.CRLReason(REVOCATION_REASONS[row.revocation_reason]), False)
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    entry = Crl(
        issuer_id=ca_row.id,
        number=number,
        this_update=now,
        next_update=next_update,
        der=crl.public_bytes(serialization.Encoding.DER),
    )
    session.add(entry)
    session.flush()
    return entry


def _serialise_publication(session: Session) -> None:
    # Number = newest + 1 is read and then written: two processes doing it at once would
    # publish the same number twice. On PostgreSQL a transaction-scoped advisory lock makes
    # the second wait until the first commits (READ COMMITTED: it then sees that CRL);
    # SQLite, single-process, lets only one writer in at a time by itself.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CRL_LOCK_KEY})


def _refresh_point(crl: Crl) -> dt.datetime:
    return crl.this_update + (crl.next_update - crl.this_update) / 2


def current_crl(
    *, session: Session, keys: KeyStore, settings: Settings, issuer: Certificate | None = None
) -> Crl:
    """The newest CRL, published anew first if it has passed half its validity."""
    entry = latest_crl(session=session, issuer=issuer)
    if utcnow() < _refresh_point(entry):
        return entry
    _serialise_publication(session)
    # Another process may have published while this one waited for the lock.
    entry = latest_crl(session=session, issuer=issuer)
    if utcnow() < _refresh_point(entry):
        return entry
    return generate_crl(session=session, keys=keys, settings=settings, issuer=issuer)


def latest_crl(*, session: Session, issuer: Certificate | None = None) -> Crl:
    """The newest CRL of an issuing CA (the current one unless ``issuer`` is given)."""
    ca_row = issuer or issuing_ca(session=session)
    crl = session.scalar(
        select(Crl).where(Crl.issuer_id == ca_row.id).order_by(Crl.number.desc()).limit(1)
    )
    if crl is None:
        raise NotFound(detail="尚未发布CRL", code="crl_missing")
    return crl
