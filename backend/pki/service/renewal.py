"""Renewal: a new certificate for the holder of the one presented over mutual TLS.

A certificate renews once, only in the last part of its validity (the profile's
``renewal_window_days``), and never when revoked or expired. Its successor supersedes it:
at the successor's first use the predecessor is revoked (reason ``superseded``), and at
the latest when the profile's ``supersede_grace_days`` have passed
(``revocation.supersede_due``). A revocation takes the whole renewal chain with it
(``revocation.revoke``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.audit.service import Actor
from backend.config import Settings
from backend.db import utcnow
from backend.errors import Conflict
from backend.orgs.models import Office, Operator
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import BankPartner, Certificate, Device
from backend.pki.service._shared import _refused
from backend.pki.service.csr import _checked_csr
from backend.pki.service.holders import (
    Holder,
    bank_holder,
    device_holder,
    operator_holder,
)
from backend.pki.service.issuance import _issue
from backend.pki.service.revocation import mark_revoked

if TYPE_CHECKING:
    from backend.pki.service.identity import ClientIdentity


def renew(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    identity: ClientIdentity,
    csr_pem: str,
    actor: Actor,
) -> Certificate:
    """A new certificate for the holder of the current one (presented over mutual TLS).

    Refusals: ``certificate_revoked``, ``certificate_expired``, ``renewal_not_allowed``
    (the profile never renews), ``renewal_too_early`` (before the window),
    ``already_renewed`` (it has a successor), and the CSR's own codes.
    """
    current = session.get(Certificate, identity.certificate_id)
    assert current is not None  # identify() loaded it
    now = utcnow()
    if current.state != "valid":
        raise _refused("已吊销的证书不能续期", "certificate_revoked")
    if current.not_after <= now:
        raise _refused("已过期的证书不能续期", "certificate_expired")
    profile = profiles.get(current.profile)
    if profile.renewal_window_days is None:
        raise Conflict(detail=f"{profile.description}不能续期", code="renewal_not_allowed")
    opens = current.not_after - dt.timedelta(days=profile.renewal_window_days)
    if now < opens:
        raise Conflict(
            detail=f"证书有效期最后{profile.renewal_window_days}天内才能续期，"
            f"最早 {opens.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
            code="renewal_too_early",
            extra={"renewal_opens_at": opens.isoformat()},
        )
    holder = _holder_of(session, current)
    csr = _checked_csr(csr_pem, current.profile, holder)
    _claim_renewal(session, current, due=now + dt.timedelta(days=profile.supersede_grace_days))
    return _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name=current.profile,
        holder=holder,
        public_key=csr.public_key(),
        actor=actor,
        renewed_from_id=current.id,
    )


def _holder_of(session: Session, current: Certificate) -> Holder:
    if current.operator_id is not None:
        operator = session.get(Operator, current.operator_id)
        assert operator is not None
        return operator_holder(operator)
    if current.device_id is not None:
        device = session.get(Device, current.device_id)
        assert device is not None
        office = session.get(Office, device.office_id)
        assert office is not None
        return device_holder(device, office)
    bank = session.get(BankPartner, current.bank_id)
    assert bank is not None
    return bank_holder(bank)


def _claim_renewal(session: Session, current: Certificate, *, due: dt.datetime) -> None:
    # Conditional, so that of renewals racing with one certificate exactly one gets a
    # successor: a certificate is renewed once.
    claimed = session.execute(
        update(Certificate)
        .where(
            Certificate.id == current.id,
            Certificate.state == "valid",
            Certificate.supersede_due_at.is_(None),
        )
        .values(supersede_due_at=due)
        .returning(Certificate.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        raise Conflict(detail=f"证书 {current.serial} 已续期过", code="already_renewed")


def supersession_pending(*, session: Session, certificate_id: int) -> bool:
    """Whether using this certificate would supersede its predecessor (still valid)."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None or certificate.renewed_from_id is None:
        return False
    predecessor = session.get(Certificate, certificate.renewed_from_id)
    return predecessor is not None and predecessor.state == "valid"


def supersede_on_first_use(*, session: Session, certificate_id: int) -> None:
    """The first use of a renewed certificate revokes its predecessor (``superseded``).

    Conditional on the predecessor being still valid, so of first uses racing each other
    one records the supersession.
    """
    certificate = session.get(Certificate, certificate_id)
    if certificate is None or certificate.renewed_from_id is None:
        return
    now = utcnow()
    claimed = session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.renewed_from_id, Certificate.state == "valid")
        .values(state="revoked", revoked_at=now, revocation_reason="superseded")
        .returning(Certificate.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        return
    predecessor = session.get(Certificate, claimed, populate_existing=True)
    assert predecessor is not None
    mark_revoked(
        session=session,
        certificate=predecessor,
        reason="superseded",
        at=now,
        actor=Actor.system("pki"),
        action="pki.supersede",
        detail={"cause": "successor_used", "successor": certificate.serial},
    )
