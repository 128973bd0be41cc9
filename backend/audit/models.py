"""Audit records; each holds the hash of the previous one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column


class AuditRecord(Base):
    """One audited event: when, who, from where, what, on which object, with what result."""

    __tablename__ = "audit_records"

    id: Mapped[int] = id_column()
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    operator_id: Mapped[int | None] = mapped_column(IdType, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(16), comment="ok | denied | failed")
    detail: Mapped[str] = mapped_column(Text, default="{}", comment="canonical JSON")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
