"""What the CA's views share: permissions, the CA's key store, an issued-certificate answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from backend.deps import AppSettings, DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.pki import service
from backend.pki.keystore import KeyStore, ca_key_store
from backend.pki.models import Certificate
from backend.pki.schemas import IssuedOut

CertReader = Annotated[Principal, Depends(Requires(Permission.CERT_READ))]
CertManager = Annotated[Principal, Depends(Requires(Permission.CERT_MANAGE))]


def _keys(session: DbSession, settings: AppSettings) -> KeyStore:
    return ca_key_store(session, settings)


CaKeys = Annotated[KeyStore, Depends(_keys)]


def _issued(session: DbSession, row: Certificate) -> IssuedOut:
    return IssuedOut(
        serial=row.serial,
        profile=row.profile,
        holder=row.holder,
        not_after=row.not_after,
        certificate_pem=row.pem,
        chain_pem=service.chain_pem(session=session),
    )
