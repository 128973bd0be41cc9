"""Receipts issued: one signed token per business fact, whoever asks and however often."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow


class IssuedReceipt(Base):
    """The receipt of one fact (a collection, certification, card event, statement or an
    office's signed day close).

    ``(kind, fact)`` is unique: a second request for the same fact gets this token back,
    so there is never more than one genuine receipt of one payment.
    """

    __tablename__ = "issued_receipts"
    __table_args__ = (UniqueConstraint("kind", "fact", name="uq_issued_receipts_fact"),)

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(24))
    fact: Mapped[str] = mapped_column(
        String(40), comment="the fact's id (a statement: pension id/year)"
    )
    receipt_number: Mapped[str] = mapped_column(String(40), unique=True)
    person_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("persons.id"), index=True, comment="none for a day close"
    )
    county_code: Mapped[str] = mapped_column(String(6))
    amount_fen: Mapped[int | None] = money_column(nullable=True)
    token: Mapped[str] = mapped_column(Text)
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
