"""The identity behind a client certificate, and checks on a presented certificate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.orgs.models import Operator
from backend.pki.models import BankPartner, Certificate, Device
from backend.pki.service._shared import _refused
from backend.pki.service.ca import fingerprint, issuing_ca, issuing_cas, load_certificate


@dataclass(frozen=True)
class ClientIdentity:
    """Who is at the other end of a mutually authenticated connection."""

    kind: str
    name: str
    certificate_id: int
    serial: str
    fingerprint: str
    region_code: str | None
    operator_id: int | None = None
    device_id: int | None = None
    bank_id: int | None = None

    @property
    def label(self) -> str:
        """``kind:name`` (recorded as the audit device)."""
        return f"{self.kind}:{self.name}"


def check_presented(
    *, session: Session, certificate: x509.Certificate, now: dt.datetime | None = None
) -> Certificate:
    """The inventory row of a presented certificate that is ours, in validity and not revoked."""
    now = now or utcnow()
    row = session.scalar(
        select(Certificate).where(Certificate.fingerprint == fingerprint(certificate))
    )
    if row is None:
        raise _refused("客户端证书不是本CA签发的", "certificate_unknown")
    if row.state == "revoked":
        raise _refused(
            f"证书 {row.serial} 已吊销（{row.revocation_reason}）", "certificate_revoked"
        )
    issuer = session.get(Certificate, row.issuer_id) if row.issuer_id else None
    if issuer is not None and issuer.state != "valid":
        raise _refused(f"证书 {row.serial} 的签发CA已停用", "certificate_issuer_retired")
    if row.not_before > now:
        raise _refused(f"证书 {row.serial} 尚未生效", "certificate_not_yet_valid")
    if row.not_after <= now:
        raise _refused(f"证书 {row.serial} 已过期", "certificate_expired")
    if row.supersede_due_at is not None and row.supersede_due_at <= now:
        raise _refused(
            f"证书 {row.serial} 已被续期后的新证书取代（superseded）", "certificate_revoked"
        )
    return row


def identify(*, session: Session, certificate: x509.Certificate) -> ClientIdentity:
    """The known device, operator or bank behind a client certificate, or a refusal."""
    row = check_presented(session=session, certificate=certificate)
    if row.profile not in ("device", "operator", "bank"):
        raise _refused(f"{row.profile}证书不能用于客户端认证", "certificate_wrong_profile")
    active = True
    if row.operator_id is not None:
        operator = session.get(Operator, row.operator_id)
        active = operator is not None and operator.is_active
    elif row.device_id is not None:
        device = session.get(Device, row.device_id)
        active = device is not None and device.is_active
    elif row.bank_id is not None:
        bank = session.get(BankPartner, row.bank_id)
        active = bank is not None and bank.is_active
    if not active:
        raise _refused(f"证书持有者 {row.holder} 已停用", "holder_inactive")
    kind, _, name = row.holder.partition(":")
    return ClientIdentity(
        kind=kind,
        name=name,
        certificate_id=row.id,
        serial=row.serial,
        fingerprint=row.fingerprint,
        region_code=row.region_code,
        operator_id=row.operator_id,
        device_id=row.device_id,
        bank_id=row.bank_id,
    )


def verify_issued(*, session: Session, certificate: x509.Certificate) -> None:
    """Refuse a certificate whose signature is not that of a valid issuing CA (two during a
    rotation's overlap)."""
    issuing_ca(session=session)  # none at all: the usual ca_missing
    for ca_row in issuing_cas(session=session):
        try:
            certificate.verify_directly_issued_by(load_certificate(ca_row))
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise _refused("证书不是本CA签发的", "certificate_foreign_ca")
