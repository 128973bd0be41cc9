"""Journal entries and lines (append-only), and the run/chunk records of batch jobs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow

#: The business references that are posted at most once (journal entries' ``ref_type``).
ONCE_POSTED = "ref_type IN ('collection', 'refund', 'assessment')"


class JournalEntry(Base):
    """One business event in the fund's books; corrected only by a reversing entry."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_ref", "ref_type", "ref_id"),
        # A counter money event is posted once: the collection (or its reversal), the
        # refund, the assessment settled at once. A second posting of one event is refused
        # by the database, whatever the code above it does.
        Index(
            "uq_journal_entries_counter_event",
            "ref_type",
            "ref_id",
            unique=True,
            postgresql_where=text(ONCE_POSTED),
            sqlite_where=text(ONCE_POSTED),
        ),
    )

    id: Mapped[int] = id_column()
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    posted_on: Mapped[dt.date] = mapped_column(Date)
    event: Mapped[str] = mapped_column(String(40))
    ref_type: Mapped[str | None] = mapped_column(String(24))
    ref_id: Mapped[int | None] = mapped_column(IdType)
    reverses_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("journal_entries.id"), unique=True
    )
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    memo: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class JournalLine(Base):
    """A debit or a credit of one entry, in fen."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint(
            "(debit_fen > 0 AND credit_fen = 0) OR (debit_fen = 0 AND credit_fen > 0)",
            name="one_side",
        ),
        Index("ix_journal_lines_account_county", "account_code", "county_code"),
    )

    id: Mapped[int] = id_column()
    entry_id: Mapped[int] = mapped_column(IdType, ForeignKey("journal_entries.id"), index=True)
    county_code: Mapped[str] = mapped_column(String(6))
    account_code: Mapped[str] = mapped_column(String(8))
    debit_fen: Mapped[int] = money_column(default=0)
    credit_fen: Mapped[int] = money_column(default=0)


class JobRun(Base):
    """One run of a batch job for a period (interest 2024, a return file, …)."""

    __tablename__ = "job_runs"

    id: Mapped[int] = id_column()
    job: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), comment="running | done")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class JobChunk(Base):
    """One county of a run: claimed, done in one transaction, never done twice."""

    __tablename__ = "job_chunks"
    __table_args__ = (UniqueConstraint("run_id", "scope"),)

    id: Mapped[int] = id_column()
    run_id: Mapped[int] = mapped_column(IdType, ForeignKey("job_runs.id"), index=True)
    scope: Mapped[str] = mapped_column(String(32), comment="county code or line range")
    status: Mapped[str] = mapped_column(String(16), comment="pending | done")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
