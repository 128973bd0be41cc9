"""Transfers: one per enrolment left behind, with the balance and years moved."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow


class Transfer(Base):
    """A contributor's move: the old enrolment ends, the whole balance goes along, once."""

    __tablename__ = "transfers"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), comment="county | out_of_province")
    from_enrolment_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("enrolments.id"), unique=True, comment="a move happens once"
    )
    to_enrolment_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("enrolments.id"))
    from_county: Mapped[str] = mapped_column(String(6))
    to_county: Mapped[str | None] = mapped_column(String(6))
    to_agency: Mapped[str | None] = mapped_column(String(100), comment="other province's agency")
    transferred_on: Mapped[dt.date] = mapped_column(Date)
    balance_fen: Mapped[int] = money_column()
    contribution_years: Mapped[int] = mapped_column(SmallInteger)
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
