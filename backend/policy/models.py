"""Policy versions: one dated, regional rule set each, proposed and approved by two people."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class PolicyVersion(Base):
    """A complete rule set for a region prefix ('' national, 2 province, 6 county) from a date."""

    __tablename__ = "policy_versions"
    __table_args__ = (Index("ix_policy_versions_region_from", "region_prefix", "valid_from"),)

    id: Mapped[int] = id_column()
    region_prefix: Mapped[str] = mapped_column(String(6), comment="'' national, 65, 654226")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; else next version")
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    rules_json: Mapped[str] = mapped_column(Text, comment="merged rules, yuan/percent form")
    rules_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), comment="pending | active | rejected")
    maker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
