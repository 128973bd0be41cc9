"""Devices and their one-time enrolment tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.deps import DbSession, IdempotencyKey
from backend.idempotency import respond_once
from backend.pki import service
from backend.pki.models import Device
from backend.pki.schemas import DeviceIn, DeviceOut, TokenIn, TokenOut
from backend.pki.views._shared import CertManager

router = APIRouter()


@router.post("/devices", response_model=DeviceOut, status_code=201, summary="登记终端设备")
def register_device(
    body: DeviceIn,
    session: DbSession,
    principal: CertManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record a workstation, kiosk or card-centre station of an office in scope."""

    def action() -> tuple[int, object]:
        device = service.register_device(
            session=session,
            principal=principal,
            name=body.name,
            kind=body.kind,
            office_id=body.office_id,
            actor=principal.actor,
        )
        return 201, DeviceOut.model_validate(device).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/devices/{device_id}/tokens",
    response_model=TokenOut,
    status_code=201,
    summary="签发设备一次性注册令牌",
)
def issue_token(
    device_id: int, body: TokenIn, session: DbSession, principal: CertManager
) -> TokenOut:
    """A one-time enrolment token for a device, shown once.

    Not behind an idempotency record on purpose: the stored response would keep the
    secret. A retry issues another single-use, short-lived token.
    """
    row, token = service.issue_enrolment_token(
        session=session,
        principal=principal,
        device_id=device_id,
        valid_hours=body.valid_hours,
        actor=principal.actor,
    )
    device = session.get(Device, device_id)
    assert device is not None
    return TokenOut(
        device_id=device.id, device_name=device.name, token=token, expires_at=row.expires_at
    )
