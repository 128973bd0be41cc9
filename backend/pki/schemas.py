"""Requests and responses of the CA's endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from backend.schemas import Out

CsrPem = Annotated[str, Field(min_length=1, max_length=16_000, description="PEM 格式的证书请求")]


class CertificateOut(Out):
    """One certificate of the inventory."""

    id: int
    serial: str
    fingerprint: str
    profile: str
    subject: str
    holder: str
    region_code: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    state: str
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    renewed_from_id: int | None


class IssuedOut(BaseModel):
    """A newly issued certificate with the chain to install beside it."""

    serial: str
    profile: str
    holder: str
    not_after: dt.datetime
    certificate_pem: str
    chain_pem: str


class RevokeIn(BaseModel):
    reason: Literal[
        "unspecified",
        "key_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
    ]


class DeviceIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["workstation", "kiosk", "card_centre"]
    office_id: int


class DeviceOut(Out):
    id: int
    name: str
    kind: str
    office_id: int
    region_code: str
    is_active: bool


class TokenIn(BaseModel):
    valid_hours: Annotated[int, Field(ge=1, le=72)] = 24


class TokenOut(BaseModel):
    """The one-time token: shown once, only its hash is kept."""

    device_id: int
    device_name: str
    token: str
    expires_at: dt.datetime


class EnrolIn(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=128)]
    csr_pem: CsrPem


class BankIn(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]


class BankOut(Out):
    id: int
    code: str
    name: str
    is_active: bool


class RequestIn(BaseModel):
    profile: Literal["operator", "bank"]
    csr_pem: CsrPem
    operator_id: int | None = None
    bank_code: str | None = None


class RequestOut(Out):
    id: int
    profile: str
    operator_id: int | None
    bank_id: int | None
    state: str
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    certificate_id: int | None


class RenewIn(BaseModel):
    csr_pem: CsrPem
