"""Client idempotency keys: a repeated state-changing request returns the first result.

The stored response is written in the same transaction as the change it
describes, so either both exist or neither does.

Concurrent requests with one key: the key's row is claimed (inserted, unanswered)
before the change runs. A second request's insert of the same key waits on the
unique index until the first transaction ends (PostgreSQL); if the first committed,
the second replays its answer, if it rolled back, the second runs the change itself.
So one key has one effect, and a race is a clean replay, never an ``IntegrityError``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow
from backend.errors import Conflict, invalid
from backend.keys.fields import Encrypted
from backend.orgs.service import Principal


class IdempotencyRecord(Base):
    """The first answer given to one (operator, key)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("operator_id", "key"),)

    id: Mapped[int] = id_column()
    operator_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # The first answer may carry personal data (a registered person): encrypted at rest.
    response_json: Mapped[str] = mapped_column(Encrypted("idempotent_response"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A stable hash of what was asked, to detect a key reused for another request."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method} {path} {canonical}".encode()).hexdigest()


def run_once(
    *,
    session: Session,
    operator_id: int,
    key: str | None,
    request_fingerprint: str,
    action: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run ``action`` unless this key was seen; return (status code, JSON-able body)."""
    if not key:
        raise invalid("Idempotency-Key", "状态变更请求必须携带 Idempotency-Key 请求头", "required")
    if len(key) > 128:
        raise invalid("Idempotency-Key", "Idempotency-Key 不能超过128个字符", "too_long")
    existing = _existing(session, operator_id, key)
    if existing is None:
        claim = IdempotencyRecord(
            operator_id=operator_id,
            key=key,
            request_fingerprint=request_fingerprint,
            status_code=0,  # claimed, not yet answered (never visible to another request)
            response_json="",
        )
        try:
            with session.begin_nested():
                session.add(claim)
        except IntegrityError:
            # The same key committed by a concurrent request while this one waited.
            existing = _existing(session, operator_id, key)
            if existing is None:
                raise
        else:
            status_code, body = action()
            claim.status_code = status_code
            claim.response_json = json.dumps(body, ensure_ascii=False, default=str)
            session.flush()
            return status_code, body
    if existing.request_fingerprint != request_fingerprint:
        raise Conflict(
            detail="此 Idempotency-Key 已用于另一个不同的请求",
            code="idempotency_key_reused",
        )
    return existing.status_code, json.loads(existing.response_json)


def _existing(session: Session, operator_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.operator_id == operator_id, IdempotencyRecord.key == key
        )
    )


def respond_once(
    *,
    session: Session,
    principal: Principal,
    key: str | None,
    request: Request,
    payload: Any,
    action: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """The views' way to run a state change once per key: answers with the first response."""
    status_code, body = run_once(
        session=session,
        operator_id=principal.operator_id,
        key=key,
        request_fingerprint=fingerprint(request.method, request.url.path, payload),
        action=action,
    )
    return JSONResponse(body, status_code=status_code)
