"""The inventory: one certificate by serial, and search, both scoped by region."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.errors import NotFound
from backend.pki.models import Certificate

if TYPE_CHECKING:
    from backend.orgs.service import Principal


def get_certificate(*, session: Session, principal: Principal | None, serial: str) -> Certificate:
    """One certificate by serial (hex), inside the administrator's scope."""
    row = session.scalar(select(Certificate).where(Certificate.serial == serial.lower()))
    if row is None:
        raise NotFound(detail=f"证书 {serial} 不存在", code="certificate_not_found")
    if principal is not None and not (
        len(principal.scope.prefix) <= 2
        or (row.region_code and principal.scope.covers(row.region_code))
    ):
        raise NotFound(
            detail=f"证书 {serial} 不存在", code="certificate_not_found", audit_refusal=True
        )
    return row


def search(
    *,
    session: Session,
    principal: Principal | None,
    text: str | None = None,
    profile: str | None = None,
    state: str | None = None,
    expiring_within_days: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Certificate]]:
    """Issued certificates by subject/holder/serial text, profile, state or near expiry."""
    query = select(Certificate)
    if principal is not None and len(principal.scope.prefix) > 2:
        query = query.where(Certificate.region_code.startswith(principal.scope.prefix))
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(Certificate.subject).like(like),
                func.lower(Certificate.holder).like(like),
                Certificate.serial == text.lower(),
            )
        )
    if profile:
        query = query.where(Certificate.profile == profile)
    if state:
        query = query.where(Certificate.state == state)
    if expiring_within_days is not None:
        now = utcnow()
        query = query.where(
            Certificate.state == "valid",
            Certificate.not_after > now,
            Certificate.not_after <= now + dt.timedelta(days=expiring_within_days),
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = Certificate.not_after if expiring_within_days is not None else Certificate.id.desc()
    rows = session.scalars(query.order_by(order).offset(offset).limit(limit)).all()
    return total, list(rows)
