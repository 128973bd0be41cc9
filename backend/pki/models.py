"""CA keys, certificates, devices, bank partners, enrolment tokens, CSRs, CRLs, challenges."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class CaKey(Base):
    """A CA private key, PKCS#8 encrypted under the configured passphrase."""

    __tablename__ = "pki_keys"

    id: Mapped[int] = id_column()
    label: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16), comment="ec-p256 | rsa-2048 | rsa-3072")
    encrypted_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Certificate(Base):
    """Every certificate the CA holds or issued, CA certificates included (the inventory)."""

    __tablename__ = "pki_certificates"

    id: Mapped[int] = id_column()
    serial: Mapped[str] = mapped_column(String(48), unique=True, comment="lower-case hex")
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of DER")
    issuer_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_certificates.id"))
    profile: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(255), index=True, comment="RFC 4514")
    # Who holds it: exactly one of these for end-entity certificates.
    holder: Mapped[str] = mapped_column(String(128), index=True, comment="kind:name")
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_devices.id"), index=True)
    bank_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_bank_partners.id"))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    key_label: Mapped[str | None] = mapped_column(String(64), comment="CA certificates only")
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), default="valid", comment="valid | revoked")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    renewed_from_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("pki_certificates.id"), index=True
    )
    # Set when the certificate is renewed (once): the end of the grace period after which it
    # is superseded even if its successor was never used.
    supersede_due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Device(Base):
    """A workstation, kiosk or card-centre station known to the backend."""

    __tablename__ = "pki_devices"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), comment="workstation | kiosk | card_centre")
    office_id: Mapped[int] = mapped_column(IdType, ForeignKey("offices.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BankPartner(Base):
    """A partner bank that calls the bank API with its own client certificate."""

    __tablename__ = "pki_bank_partners"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class EnrolmentToken(Base):
    """A one-time token that lets one device enrol; only its SHA-256 is kept."""

    __tablename__ = "pki_enrolment_tokens"

    id: Mapped[int] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int] = mapped_column(IdType, ForeignKey("pki_devices.id"), index=True)
    issued_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    certificate_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_certificates.id"))


class CertificateRequest(Base):
    """A CSR of an operator or a bank waiting for an administrator's decision."""

    __tablename__ = "pki_requests"

    id: Mapped[int] = id_column()
    profile: Mapped[str] = mapped_column(String(32))
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"), index=True)
    bank_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_bank_partners.id"))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    csr_pem: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    certificate_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_certificates.id"))


class Crl(Base):
    """One published certificate revocation list (the newest is served)."""

    __tablename__ = "pki_crls"

    id: Mapped[int] = id_column()
    issuer_id: Mapped[int] = mapped_column(IdType, ForeignKey("pki_certificates.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class LoginChallenge(Base):
    """A single-use nonce the operator's certificate key signs at log-in."""

    __tablename__ = "pki_login_challenges"

    id: Mapped[int] = id_column()
    nonce: Mapped[str] = mapped_column(String(64), unique=True, comment="hex, 32 random bytes")
    username: Mapped[str] = mapped_column(String(64))
    device_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
