"""Devices and one-time tokens: a device enrols with a token and a CSR."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.errors import AuthenticationFailed, Conflict, NotFound, invalid
from backend.orgs.models import Office
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate, Device, EnrolmentToken
from backend.pki.service._shared import _require_scope
from backend.pki.service.csr import _checked_csr
from backend.pki.service.holders import device_holder
from backend.pki.service.issuance import _issue

if TYPE_CHECKING:
    from backend.orgs.service import Principal


DEVICE_KINDS = ("workstation", "kiosk", "card_centre")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_device(
    *,
    session: Session,
    principal: Principal | None,
    name: str,
    kind: str,
    office_id: int,
    actor: Actor,
) -> Device:
    """Record a device of an office in the administrator's scope."""
    if kind not in DEVICE_KINDS:
        raise invalid("kind", f"设备类型应为 {', '.join(DEVICE_KINDS)} 之一")
    if not profiles._URI_VALUE["device"].match(name):
        raise invalid("name", "设备名称只能包含字母、数字、点、横线和下划线，最长64位")
    office = session.get(Office, office_id)
    if office is None:
        raise NotFound(detail=f"经办机构{office_id}不存在", code="office_not_found")
    _require_scope(principal, office.region_code, "经办机构")
    if session.scalar(select(Device).where(Device.name == name)):
        raise Conflict(detail=f"设备{name}已存在", code="device_exists")
    device = Device(name=name, kind=kind, office_id=office.id, region_code=office.region_code)
    session.add(device)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.device_register",
        object_type="device",
        object_id=device.id,
        detail={"name": name, "kind": kind, "office": office.code},
    )
    return device


def issue_enrolment_token(
    *,
    session: Session,
    principal: Principal | None,
    device_id: int,
    valid_hours: int,
    actor: Actor,
) -> tuple[EnrolmentToken, str]:
    """A one-time token fixing the device identity; returns the row and the token itself."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(detail=f"设备{device_id}不存在", code="device_not_found")
    _require_scope(principal, device.region_code, "设备")
    if not device.is_active:
        raise Conflict(detail=f"设备{device.name}已停用", code="device_inactive")
    token = secrets.token_urlsafe(24)
    row = EnrolmentToken(
        token_hash=_token_hash(token),
        device_id=device.id,
        issued_by=principal.operator_id if principal else None,
        expires_at=utcnow() + dt.timedelta(hours=valid_hours),
    )
    session.add(row)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.token_issue",
        object_type="device",
        object_id=device.id,
        detail={"device": device.name, "expires_at": row.expires_at.isoformat()},
    )
    return row, token


def enrol_device(
    *, session: Session, keys: KeyStore, settings: Settings, token: str, csr_pem: str, actor: Actor
) -> Certificate:
    """Exchange a one-time token and a CSR for the device's certificate."""
    row = session.scalar(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == _token_hash(token))
    )
    if row is None:
        raise AuthenticationFailed(detail="注册令牌无效", code="token_unknown")
    if row.used_at is not None:
        raise AuthenticationFailed(detail="注册令牌已使用过", code="token_used")
    if row.expires_at <= utcnow():
        raise AuthenticationFailed(detail="注册令牌已过期", code="token_expired")
    device = session.get(Device, row.device_id)
    assert device is not None  # foreign key
    if not device.is_active:
        raise AuthenticationFailed(detail=f"设备{device.name}已停用", code="device_inactive")
    office = session.get(Office, device.office_id)
    assert office is not None  # foreign key
    holder = device_holder(device, office)
    csr = _checked_csr(csr_pem, "device", holder)
    _use_token(session, row)
    cert = _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name="device",
        holder=holder,
        public_key=csr.public_key(),
        actor=Actor(username=actor.username, device=holder.label, address=actor.address),
    )
    row.certificate_id = cert.id
    return cert


def _use_token(session: Session, row: EnrolmentToken) -> None:
    # Conditional: of requests racing with one token, the first to update it wins and the
    # others (waiting on its row lock, then finding used_at set) are refused; a refusal
    # further on rolls the use back with everything else.
    used = session.execute(
        update(EnrolmentToken)
        .where(EnrolmentToken.id == row.id, EnrolmentToken.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(EnrolmentToken.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if used is None:
        raise AuthenticationFailed(detail="注册令牌已使用过", code="token_used")
