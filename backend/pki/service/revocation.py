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
    """Revoke with a reason, and with it the whole renewal chain (the certificates it was
    renewed from and those renewed from it); sessions bound to them end and the CRL is
    published again."""
    if reason not in REVOCATION_REASONS:
        raise invalid("reason", f"吊销原因应为 {', '.join(REVOCATION_REASONS)} 之一")
    if certificate.profile in ("root_ca", "issuing_ca"):
        raise PermissionDenied(detail="CA证书不能通过此接口吊销", code="ca_revocation_refused")
    still_valid = [
        c for c in renewal_chain(session=session, certificate=certificate) if c.state == "valid"
    ]
    if not still_valid:
        raise Conflict(detail=f"证书 {certificate.serial} 已吊销", code="already_revoked")
    now = utcnow()
    for member in still_valid:
        detail: dict[str, object] = (
            {} if member is certificate else {"renewal_chain_of": certificate.serial}
        )
        mark_revoked(
            session=session,
            certificate=member,
            reason=reason,
            at=now,
            actor=actor,
            action="pki.revoke",
            detail=detail,
        )
    issuer = session.get(Certificate, certificate.issuer_id) if certificate.issuer_id else None
    generate_crl(session=session, keys=keys, settings=settings, issuer=issuer)
    return certificate


def renewal_chain(*, session: Session, certificate: Certificate) -> list[Certificate]:
    """The certificate with every one it was renewed from and every one renewed from it,
    oldest first."""
    chain = [certificate]
    while chain[0].renewed_from_id is not None:
        predecessor = session.get(Certificate, chain[0].renewed_from_id)
        if predecessor is None:
            break
        chain.insert(0, predecessor)
    frontier = [certificate.id]
    while frontier:
        successors = list(
            session.scalars(
                select(Certificate)
                .where(Certificate.renewed_from_id.in_(frontier))
                .order_by(Certificate.id)
            )
        )
        chain += successors
        frontier = [c.id for c in successors]
    return chain


def mark_revoked(
    *,
    session: Session,
    certificate: Certificate,
    reason: str,
    at: dt.datetime,
    actor: Actor,
    action: str,
    detail: dict[str, object],
) -> None:
    """Record one certificate as revoked, end the sessions bound to it, audit it.

    The CRL is left to the caller: ``revoke`` publishes one at once; a supersession is
    picked up by the next ``current_crl`` (a revocation newer than the CRL republishes it),
    and OCSP reads the state on every answer.
    """
    certificate.state = "revoked"
    certificate.revoked_at = at
    certificate.revocation_reason = reason
    # Nothing pending any more: the index of due supersessions holds only pending ones.
    certificate.supersede_due_at = None
    session.execute(
        update(OperatorSession)
        .where(
            or_(
                OperatorSession.certificate_id == certificate.id,
                OperatorSession.device_fingerprint == certificate.fingerprint,
            ),
            OperatorSession.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )
    record(
        session=session,
        actor=actor,
        action=action,
        object_type="certificate",
        object_id=certificate.id,
        detail={
            "serial": certificate.serial,
            "holder": certificate.holder,
            "reason": reason,
            **detail,
        },
    )


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


def _is_fresh(session: Session, crl: Crl) -> bool:
    # Before its refresh point, and no certificate of its issuer revoked since it was made
    # (a supersession writes no CRL of its own).
    revoked_since = session.scalar(
        select(Certificate.id)
        .where(
            Certificate.issuer_id == crl.issuer_id,
            Certificate.state == "revoked",
            Certificate.revoked_at > crl.this_update,
        )
        .limit(1)
    )
    return utcnow() < _refresh_point(crl) and revoked_since is None


def current_crl(
    *, session: Session, keys: KeyStore, settings: Settings, issuer: Certificate | None = None
) -> Crl:
    """The newest CRL, published anew first if it has passed half its validity or a
    certificate was revoked (superseded) since."""
    supersede_due(session=session)
    entry = latest_crl(session=session, issuer=issuer)
    if _is_fresh(session, entry):
        return entry
    _serialise_publication(session)
    # Another process may have published while this one waited for the lock.
    entry = latest_crl(session=session, issuer=issuer)
    if _is_fresh(session, entry):
        return entry
    return generate_crl(session=session, keys=keys, settings=settings, issuer=issuer)


def supersede_due(*, session: Session) -> int:
    """Supersede every renewed certificate whose grace period has ended; return how many.

    Its successor was not used within the grace period (a first use supersedes it at once,
    ``renewal.supersede_on_first_use``). One indexed query when none is due.
    """
    now = utcnow()
    due = session.scalars(
        select(Certificate)
        .where(Certificate.supersede_due_at <= now, Certificate.state == "valid")
        .with_for_update(skip_locked=True)
    ).all()
    for certificate in due:
        mark_revoked(
            session=session,
            certificate=certificate,
            reason="superseded",
            at=now,
            actor=Actor.system("pki"),
            action="pki.supersede",
            detail={"cause": "grace_period_ended"},
        )
    return len(due)


def latest_crl(*, session: Session, issuer: Certificate | None = None) -> Crl:
    """The newest CRL of an issuing CA (the current one unless ``issuer`` is given)."""
    ca_row = issuer or issuing_ca(session=session)
    crl = session.scalar(
        select(Crl).where(Crl.issuer_id == ca_row.id).order_by(Crl.number.desc()).limit(1)
    )
    if crl is None:
        raise NotFound(detail="尚未发布CRL", code="crl_missing")
    return crl
