"""Renewal: a new certificate for the holder of the one presented over mutual TLS."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.audit.service import Actor
from backend.config import Settings
from backend.orgs.models import Office, Operator
from backend.pki.keystore import KeyStore
from backend.pki.models import BankPartner, Certificate, Device
from backend.pki.service._shared import _refused
from backend.pki.service.csr import _checked_csr
from backend.pki.service.holders import bank_holder, device_holder, operator_holder
from backend.pki.service.identity import ClientIdentity
from backend.pki.service.issuance import _issue


def renew(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    identity: ClientIdentity,
    csr_pem: str,
    actor: Actor,
) -> Certificate:
    """A new certificate for the holder of the current one (presented over mutual TLS)."""
    current = session.get(Certificate, identity.certificate_id)
    assert current is not None  # identify() loaded it
    if current.state != "valid":
        raise _refused("已吊销的证书不能续期", "certificate_revoked")
    if current.operator_id is not None:
        operator = session.get(Operator, current.operator_id)
        assert operator is not None
        holder = operator_holder(operator)
    elif current.device_id is not None:
        device = session.get(Device, current.device_id)
        assert device is not None
        office = session.get(Office, device.office_id)
        assert office is not None
        holder = device_holder(device, office)
    else:
        bank = session.get(BankPartner, current.bank_id)
        assert bank is not None
        holder = bank_holder(bank)
    csr = _checked_csr(csr_pem, current.profile, holder)
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
