"""Individual accounts and their append-only entries."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow

#: The yearly interest credits written by the interest run (``accounts.interest``), and no
#: other interest-source entry.
INTEREST_CREDIT_REF_TYPE = "job_chunk"
INTEREST_CREDIT_WHERE = (
    f"source = 'interest' AND ref_type = '{INTEREST_CREDIT_REF_TYPE}' AND reverses_id IS NULL"
)


class Source(StrEnum):
    """Where the money of an entry came from: refunds and inheritance depend on the split."""

    OWN = "own"  # 个人缴费
    COLLECTIVE = "collective"  # 集体补助
    DONATION = "donation"  # 社会捐助
    GOVERNMENT_SUBSIDY = "government_subsidy"  # 政府缴费补贴
    GOVERNMENT_PAID = "government_paid"  # 政府代缴（困难群体）
    INTEREST = "interest"  # 利息
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    REFUND = "refund"  # 退费（负数）
    INHERITANCE = "inheritance"  # 继承支付（负数）


SOURCE_LABELS: dict[Source, str] = {
    Source.OWN: "个人缴费",
    Source.COLLECTIVE: "集体补助",
    Source.DONATION: "社会捐助",
    Source.GOVERNMENT_SUBSIDY: "政府补贴",
    Source.GOVERNMENT_PAID: "政府代缴",
    Source.INTEREST: "利息",
    Source.TRANSFER_IN: "转入",
    Source.TRANSFER_OUT: "转出",
    Source.REFUND: "退费",
    Source.INHERITANCE: "继承",
}


class Account(Base):
    """The lifelong individual account of one person."""

    __tablename__ = "accounts"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), unique=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AccountEntry(Base):
    """One credit or debit of an account; mistakes are reversed by a further entry."""

    __tablename__ = "account_entries"
    __table_args__ = (
        # Interest is credited exactly once per account and year, whatever runs overlap.
        # Only the interest run's credits (ref_type 'job_chunk'): a pension drawing on the
        # interest part, a transfer or a death settlement moves interest-source money too.
        Index(
            "uq_account_entries_interest_once",
            "account_id",
            "year",
            unique=True,
            postgresql_where=text(INTEREST_CREDIT_WHERE),
            sqlite_where=text(INTEREST_CREDIT_WHERE),
        ),
        Index("ix_account_entries_account_year", "account_id", "year"),
        Index("ix_account_entries_county_year", "county_code", "year"),
        Index("ix_account_entries_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = id_column()
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(
        SmallInteger, comment="AAE001, year of entry_date (when the money earns from)"
    )
    month: Mapped[int] = mapped_column(SmallInteger, comment="1-12, month of entry_date")
    entry_date: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = money_column(comment="AAE020, signed")
    policy_version_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    ref_type: Mapped[str | None] = mapped_column(String(24))
    ref_id: Mapped[int | None] = mapped_column(IdType)
    reverses_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("account_entries.id"), unique=True
    )
    # The journal entry that posted this entry to the fund's books (one per chunk in batches).
    journal_entry_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("journal_entries.id"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
