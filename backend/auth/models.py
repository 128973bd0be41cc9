"""Operator sessions behind short-lived bearer tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class OperatorSession(Base):
    """A logged-in session; only the SHA-256 of its token is stored."""

    __tablename__ = "operator_sessions"

    id: Mapped[int] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"), index=True)
    # Which factors were proven at log-in ("password" or "password+certificate").
    factors: Mapped[str] = mapped_column(String(64), default="password")
    # The operator certificate proven at log-in, and the client certificate of the
    # connection: the session is good only while the first is valid and from the second.
    certificate_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pki_certificates.id"))
    device_fingerprint: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
