"""Social security cards, their dated history, production batches and auth challenges."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow

#: States in which a card still belongs to its holder; at most one per person.
LIVE_CARD = "state NOT IN ('replaced', 'cancelled', 'spoiled')"


class CardBatch(Base):
    """A production batch: applications collected, sent to the card factory, returned."""

    __tablename__ = "card_batches"

    id: Mapped[int] = id_column()
    batch_number: Mapped[str] = mapped_column(String(32), unique=True)
    region_prefix: Mapped[str] = mapped_column(String(12), comment="applications collected")
    state: Mapped[str] = mapped_column(String(16), comment="collected | exported | returned")
    card_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    export_sha256: Mapped[str | None] = mapped_column(String(64))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    return_sha256: Mapped[str | None] = mapped_column(String(64))
    return_report: Mapped[str | None] = mapped_column(Text, comment="JSON of the first import")
    returned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Card(Base):
    """One social security card of one person, from application to cancellation."""

    __tablename__ = "cards"
    __table_args__ = (
        # One card per person that is neither replaced, cancelled nor spoiled.
        Index(
            "uq_cards_live_person",
            "person_id",
            unique=True,
            postgresql_where=text(LIVE_CARD),
            sqlite_where=text(LIVE_CARD),
        ),
        Index(
            "ix_cards_region_pattern",
            "region_code",
            postgresql_ops={"region_code": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    social_security_number: Mapped[str] = mapped_column(String(18), comment="AAC002, kept")
    generation: Mapped[int] = mapped_column(SmallInteger, comment="1, 2 (3DES) or 3 (SM4)")
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    bank_code: Mapped[str] = mapped_column(String(16), index=True, comment="card's bank")
    state: Mapped[str] = mapped_column(String(24), index=True)
    card_number: Mapped[str | None] = mapped_column(String(9), unique=True, comment="卡号")
    identification_code: Mapped[str | None] = mapped_column(
        String(32), unique=True, comment="卡识别码, hex"
    )
    atr: Mapped[str | None] = mapped_column(String(66), comment="chip ATR from the factory, hex")
    key_version: Mapped[int | None] = mapped_column(SmallInteger)
    batch_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("card_batches.id"), index=True)
    replaces_card_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("cards.id"))
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    loss_reported_on: Mapped[dt.date | None] = mapped_column(Date)
    loss_expires_on: Mapped[dt.date | None] = mapped_column(Date)
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    holder_died_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    events: Mapped[list[CardEvent]] = relationship(
        viewonly=True, lazy="select", order_by="CardEvent.id"
    )

    # Optimistic concurrency: two counters changing one card cannot both win.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy declares its type)


class CardEvent(Base):
    """One transition of a card (its history); append-only."""

    __tablename__ = "card_events"

    id: Mapped[int] = id_column()
    card_id: Mapped[int] = mapped_column(IdType, ForeignKey("cards.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(200))
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CardChallenge(Base):
    """A single-use random for INTERNAL AUTHENTICATE, bound to one card, short-lived."""

    __tablename__ = "card_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="random hex handle")
    card_id: Mapped[int] = mapped_column(IdType, ForeignKey("cards.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), comment="authenticate | personalise")
    challenge: Mapped[str] = mapped_column(String(32), comment="hex")
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
