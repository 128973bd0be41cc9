"""Withholding mandates, batches and their rows, return files and their rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow
from backend.keys.fields import Encrypted, lookup_hash_column_type


class BankCode(Base):
    """A bank code the system may meet (pensions, cards, mandates, batches) and the bank's
    Chinese name: loaded from a data file, a partner bank's registered name aside."""

    __tablename__ = "bank_codes"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class WithholdingMandate(Base):
    """A resident's consent that a partner bank withholds contributions from the card account."""

    __tablename__ = "withholding_mandates"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), unique=True)
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    county_code: Mapped[str] = mapped_column(String(6))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BankBatch(Base):
    """One batch file sent to one bank for one county (withholding now, pay-out later)."""

    __tablename__ = "bank_batches"

    id: Mapped[int] = id_column()
    batch_no: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16), comment="withholding | payout")
    bank_code: Mapped[str] = mapped_column(String(16))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(16), comment="year or YYYY-MM")
    format_code: Mapped[str] = mapped_column(String(16))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = money_column(default=0)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    created_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BankBatchRow(Base):
    """One row of a batch; its state moves once from open to a final outcome."""

    __tablename__ = "bank_batch_rows"
    __table_args__ = (Index("ix_bank_batch_rows_ref_state", "ref_id", "state"),)

    id: Mapped[int] = id_column()
    batch_id: Mapped[int] = mapped_column(IdType, ForeignKey("bank_batches.id"), index=True)
    county_code: Mapped[str] = mapped_column(String(6))
    ref_id: Mapped[int] = mapped_column(IdType, comment="assessment (withholding) or payment")
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    # Copied from the person as stored (encrypted); decrypted only to write the bank's file.
    id_number: Mapped[str] = mapped_column(Encrypted("id_number"))
    id_number_hash: Mapped[bytes] = mapped_column(lookup_hash_column_type())
    name: Mapped[str] = mapped_column(Encrypted("name"))
    amount_fen: Mapped[int] = money_column()
    doc_no: Mapped[str] = mapped_column(String(48), unique=True, comment="社保单据号")
    state: Mapped[str] = mapped_column(
        String(16), comment="pending | success | failed | partial | unknown | carried"
    )
    debited_fen: Mapped[int] = money_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(200))
    return_file_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("bank_return_files.id"))


class BankReturnFile(Base):
    """A return file (回盘), imported once by content hash; rejected whole if its totals lie."""

    __tablename__ = "bank_return_files"

    id: Mapped[int] = id_column()
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("bank_batches.id"))
    status: Mapped[str] = mapped_column(String(16), comment="applying | applied | rejected")
    reason: Mapped[str | None] = mapped_column(String(300))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = money_column(default=0)
    debited_fen: Mapped[int] = money_column(default=0)
    run_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("job_runs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class BankReturnRow(Base):
    """One row of a return file as received, and how it was resolved."""

    __tablename__ = "bank_return_rows"
    __table_args__ = (Index("ix_bank_return_rows_file_line", "return_file_id", "line_no"),)

    id: Mapped[int] = id_column()
    return_file_id: Mapped[int] = mapped_column(IdType, ForeignKey("bank_return_files.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    person_code: Mapped[str] = mapped_column(String(32), comment="社保编号")
    name: Mapped[str] = mapped_column(Encrypted("name"))
    id_number: Mapped[str] = mapped_column(Encrypted("id_number"), comment="'' when not given")
    id_number_hash: Mapped[bytes | None] = mapped_column(
        lookup_hash_column_type(), comment="NULL when the file gives no ID number"
    )
    amount_fen: Mapped[int] = money_column()
    doc_no: Mapped[str] = mapped_column(String(48), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    debited_fen: Mapped[int] = money_column()
    reason: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(String(16), comment="applied | exception")
    exception_reason: Mapped[str | None] = mapped_column(String(200))
