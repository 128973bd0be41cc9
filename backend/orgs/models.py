"""Region tree, offices (经办机构) and operators."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class Region(Base):
    """A node of the administrative tree, keyed by its 12-digit statistical code."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(
        String(12), primary_key=True, comment="12-digit division code"
    )
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(SmallInteger, comment="1 province … 5 village")
    parent_code: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("regions.code"), index=True
    )
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class Office(Base):
    """An agency office (经办机构) attached to a node of the tree."""

    __tablename__ = "offices"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"), index=True)

    region: Mapped[Region] = relationship(lazy="joined")


class Operator(Base):
    """A member of staff who logs in; the office gives the region scope."""

    __tablename__ = "operators"

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    office_id: Mapped[int] = mapped_column(IdType, ForeignKey("offices.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    office: Mapped[Office] = relationship(lazy="joined")
