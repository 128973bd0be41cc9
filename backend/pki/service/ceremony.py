"""The key ceremony: the root CA and the province's issuing CA."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.errors import Conflict, invalid
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate
from backend.pki.service.ca import ISSUING_KEY_LABEL, ROOT_KEY_LABEL
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
    issuing_key = keys.generate(label=ISSUING_KEY_LABEL, algorithm=algorithm)
    issuing_holder = Holder(
        kind="ca",
        name=f"issuing-{province_code}",
        common_name=f"xnb 签发CA {province_code}",
        organisational_unit=None,
        uris={},
        region_code=province_code.ljust(12, "0"),
    )
    issuing_profile = profiles.get("issuing_ca")
    issuing_cert = _sign(
        template=template_for(
            profile=issuing_profile,
            holder=issuing_holder,
            public_key=issuing_key.public_key(),
            now=now,
        ),
        profile=issuing_profile,
        issuer=root_cert,
        issuer_key=root_key,
        public_url=None,
    )
    issuing_row = _store(
        session=session,
        certificate=issuing_cert,
        profile="issuing_ca",
        holder=issuing_holder,
        issuer_id=root_row.id,
        key_label=ISSUING_KEY_LABEL,
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
