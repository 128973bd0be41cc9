"""Payout authorisations asked for by partner banks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class PayoutAuthorisation(Base):
    """One bank transaction's question and the answer; resolved (confirmed, voided,
    expired) at most once. Append-only apart from that one resolution."""

    __tablename__ = "bank_payout_authorisations"
    __table_args__ = (UniqueConstraint("bank_id", "bank_transaction_id"),)

    id: Mapped[int] = id_column()
    authorisation_code: Mapped[str] = mapped_column(String(16), unique=True)
    bank_id: Mapped[int] = mapped_column(IdType, ForeignKey("pki_bank_partners.id"), index=True)
    bank_transaction_id: Mapped[str] = mapped_column(String(64))
    request_sha256: Mapped[str] = mapped_column(String(64))
    card_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("cards.id"), index=True)
    card_number: Mapped[str] = mapped_column(String(9))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))
    terminal_id: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16), comment="approved | declined")
    reason_code: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(
        String(16), comment="approved | confirmed | voided | expired | declined"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
