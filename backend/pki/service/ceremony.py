"""The key ceremony: the root CA and the province's issuing CA; the issuing CA's rotation.

Rotation makes a new issuing CA (a new key) under the same root. Both stay valid during
the overlap: the chain (``/pki/ca.pem``, ``xnb ca export``, the mutual-TLS bundle) names
both, certificates of either authenticate, and each answers OCSP and publishes CRLs for
its own certificates, while new certificates come from the new one. Retiring the old
one (after its certificates have been renewed) removes it from the chain and refuses its
certificates from then on.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied, invalid
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate
from backend.pki.service.ca import (
    ISSUING_KEY_LABEL,
    ROOT_KEY_LABEL,
    issuing_ca,
    issuing_cas,
    load_certificate,
)
from backend.pki.service.holders import Holder
from backend.pki.service.issuance import _sign, _store, template_for
from backend.pki.service.revocation import generate_crl


def init_hierarchy(
    *,
    session: Session,
    keys: KeyStore,
    root_keys: KeyStore,
    settings: Settings,
    province_code: str,
    algorithm: str = "ec-p256",
    actor: Actor,
) -> tuple[Certificate, Certificate]:
    """The key ceremony: an offline-style root and the province's issuing CA signed by it."""
    if session.scalar(select(Certificate).where(Certificate.profile == "issuing_ca")):
        raise Conflict(detail="签发CA已存在", code="ca_exists")
    if len(province_code) != 2 or not province_code.isdigit():
        raise invalid("province_code", "省级区划代码应为2位数字")
    now = utcnow()
    root_key = root_keys.generate(label=ROOT_KEY_LABEL, algorithm=algorithm)
    root_holder = Holder(
        kind="ca",
        name="root",
        common_name=f"xnb 根CA {province_code}",
        organisational_unit=None,
        uris={},
    )
    root_profile = profiles.get("root_ca")
    root_cert = _sign(
        template=template_for(
            profile=root_profile, holder=root_holder, public_key=root_key.public_key(), now=now
        ),
        profile=root_profile,
        issuer=None,
        issuer_key=root_key,
        public_url=None,
    )
    root_row = _store(
        session=session,
        certificate=root_cert,
        profile="root_ca",
        holder=root_holder,
        issuer_id=None,
        key_label=ROOT_KEY_LABEL,
    )
    issuing_row = _new_issuing_ca(
        session=session,
        keys=keys,
        label=ISSUING_KEY_LABEL,
        algorithm=algorithm,
        holder=Holder(
            kind="ca",
            name=f"issuing-{province_code}",
            common_name=f"xnb 签发CA {province_code}",
            organisational_unit=None,
            uris={},
            region_code=province_code.ljust(12, "0"),
        ),
        root_row=root_row,
        root_cert=root_cert,
        root_key=root_key,
    )
    for row in (root_row, issuing_row):
        record(
            session=session,
            actor=actor,
            action="pki.ca_init",
            object_type="certificate",
            object_id=row.id,
            detail={"serial": row.serial, "profile": row.profile, "algorithm": algorithm},
        )
    generate_crl(session=session, keys=keys, settings=settings)
    return root_row, issuing_row


def _new_issuing_ca(
    *,
    session: Session,
    keys: KeyStore,
    label: str,
    algorithm: str,
    holder: Holder,
    root_row: Certificate,
    root_cert: x509.Certificate,
    root_key: CertificateIssuerPrivateKeyTypes,
) -> Certificate:
    """A new issuing-CA key in ``keys`` and its certificate signed by the root."""
    issuing_key = keys.generate(label=label, algorithm=algorithm)
    profile = profiles.get("issuing_ca")
    certificate = _sign(
        template=template_for(
            profile=profile, holder=holder, public_key=issuing_key.public_key(), now=utcnow()
        ),
        profile=profile,
        issuer=root_cert,
        issuer_key=root_key,
        public_url=None,
    )
    return _store(
        session=session,
        certificate=certificate,
        profile="issuing_ca",
        holder=holder,
        issuer_id=root_row.id,
        key_label=label,
    )


def rotate_issuing_ca(
    *,
    session: Session,
    keys: KeyStore,
    root_keys: KeyStore,
    settings: Settings,
    actor: Actor,
    algorithm: str = "ec-p256",
) -> Certificate:
    """A new issuing CA under the root (the root key is brought to the ceremony); the old
    one stays valid until :func:`retire_issuing_ca`. New certificates come from the new one."""
    current = issuing_ca(session=session)
    root_row = session.get(Certificate, current.issuer_id) if current.issuer_id else None
    if root_row is None or root_row.state != "valid":
        raise NotFound(detail="签发CA的根CA不存在或已失效", code="ca_missing")
    root_cert = load_certificate(root_row)
    root_key = root_keys.signing_key(label=root_row.key_label or ROOT_KEY_LABEL)
    if root_key.public_key() != root_cert.public_key():
        raise Conflict(detail="所给根CA私钥与根CA证书不符", code="ca_root_key_mismatch")
    generation = (
        len(
            session.scalars(select(Certificate.id).where(Certificate.profile == "issuing_ca")).all()
        )
        + 1
    )
    province_code = (current.region_code or "")[:2]
    row = _new_issuing_ca(
        session=session,
        keys=keys,
        label=f"{ISSUING_KEY_LABEL}-{generation}",
        algorithm=algorithm,
        holder=Holder(
            kind="ca",
            name=f"issuing-{province_code}-{generation}",
            common_name=f"xnb 签发CA {province_code} 第{generation}代",
            organisational_unit=None,
            uris={},
            region_code=current.region_code,
        ),
        root_row=root_row,
        root_cert=root_cert,
        root_key=root_key,
    )
    record(
        session=session,
        actor=actor,
        action="pki.ca_rotate",
        object_type="certificate",
        object_id=row.id,
        detail={"serial": row.serial, "previous": current.serial, "key_label": row.key_label},
    )
    generate_crl(session=session, keys=keys, settings=settings, issuer=row)
    return row


def retire_issuing_ca(*, session: Session, serial: str, actor: Actor) -> Certificate:
    """End an older issuing CA's overlap: it leaves the chain and its certificates are
    refused from now on (the newest issuing CA cannot be retired)."""
    cas = issuing_cas(session=session)
    row = next((ca for ca in cas if ca.serial == serial.lower()), None)
    if row is None:
        raise NotFound(detail=f"没有有效的签发CA {serial}", code="ca_missing")
    if row is cas[0]:
        raise PermissionDenied(
            detail="不能停用最新的签发CA：先轮换出新的签发CA", code="ca_retire_current"
        )
    row.state = "revoked"
    row.revoked_at = utcnow()
    row.revocation_reason = "superseded"
    record(
        session=session,
        actor=actor,
        action="pki.ca_retire",
        object_type="certificate",
        object_id=row.id,
        detail={"serial": row.serial, "successor": cas[0].serial},
    )
    return row
