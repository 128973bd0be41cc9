"""Payrolls per month and scope, their lines, and who was left out and why."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow
from backend.keys.fields import Encrypted


class Payroll(Base):
    """The payroll of one month for a county (6 digits) or the province (2 digits)."""

    __tablename__ = "payrolls"
    __table_args__ = (Index("uq_payrolls_month_scope", "month", "scope", unique=True),)

    id: Mapped[int] = id_column()
    month: Mapped[dt.date] = mapped_column(Date, comment="first day of the month paid")
    scope: Mapped[str] = mapped_column(String(6), comment="county code or province prefix")
    status: Mapped[str] = mapped_column(
        String(16), comment="building | draft | reviewed | approved | sent | reconciled"
    )
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = money_column(default=0)
    basic_fen: Mapped[int] = money_column(default=0)
    account_fen: Mapped[int] = money_column(default=0)
    excluded_count: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("job_runs.id"))
    built_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    reviewed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    approved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    built_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PayrollLine(Base):
    """One part of a pensioner's payment: a month's pension, back pay for a missed month, a
    re-issued failure, a rise for a month already paid, or an overpayment kept back.

    The bank is paid once per pensioner and payroll: the sum of that pension's lines.
    """

    __tablename__ = "payroll_lines"
    __table_args__ = (
        Index("ix_payroll_lines_payroll_county", "payroll_id", "county_code"),
        Index("ix_payroll_lines_pension_month", "pension_id", "month"),
        # Only the lines a later payroll looks for: failed ones (re-issued), re-issues (once
        # each) and recovery lines (what they keep back); the million regular lines stay
        # out of these three.
        Index(
            "ix_payroll_lines_failed",
            "county_code",
            postgresql_where=text("state = 'failed'"),
            sqlite_where=text("state = 'failed'"),
        ),
        Index(
            "uq_payroll_lines_reissue_of",
            "reissue_of_id",
            unique=True,
            postgresql_where=text("reissue_of_id IS NOT NULL"),
            sqlite_where=text("reissue_of_id IS NOT NULL"),
        ),
        Index(
            "ix_payroll_lines_overpayment",
            "overpayment_id",
            postgresql_where=text("overpayment_id IS NOT NULL"),
            sqlite_where=text("overpayment_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = id_column()
    payroll_id: Mapped[int] = mapped_column(IdType, ForeignKey("payrolls.id"))
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"))
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    bank_code: Mapped[str] = mapped_column(String(16))
    # Copied from the pension as stored (encrypted; one payroll's lines of a pension carry
    # the same ciphertext, so they group together).
    bank_account: Mapped[str] = mapped_column(Encrypted("bank_account"))
    kind: Mapped[str] = mapped_column(
        String(16),
        comment="regular | back_pay | reissue | adjustment | recovery (negative: kept back)",
    )
    month: Mapped[dt.date] = mapped_column(Date, comment="the month this money is for")
    amount_fen: Mapped[int] = money_column()
    basic_fen: Mapped[int] = money_column()
    account_fen: Mapped[int] = money_column()
    computation_id: Mapped[int] = mapped_column(IdType, ForeignKey("pension_computations.id"))
    policy_version_id: Mapped[int] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    reissue_of_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("payroll_lines.id"))
    # For a recovery line: the overpayment it reduces (recorded when the line is paid).
    overpayment_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("benefit_overpayments.id")
    )
    state: Mapped[str] = mapped_column(
        String(16), comment="built (until the bank answers) | paid | failed | unknown"
    )
    reason: Mapped[str | None] = mapped_column(String(200))
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))


class PayrollBatch(Base):
    """The pay-out batch of a payroll for one county and bank (one row per pensioner paid)."""

    __tablename__ = "payroll_batches"

    batch_id: Mapped[int] = mapped_column(IdType, ForeignKey("bank_batches.id"), primary_key=True)
    payroll_id: Mapped[int] = mapped_column(IdType, ForeignKey("payrolls.id"), index=True)


class PayrollExclusion(Base):
    """A pensioner left out of a payroll, with the reason (supervision, DOMAIN.md §11)."""

    __tablename__ = "payroll_exclusions"
    __table_args__ = (Index("ix_payroll_exclusions_payroll", "payroll_id", "county_code"),)

    id: Mapped[int] = id_column()
    payroll_id: Mapped[int] = mapped_column(IdType, ForeignKey("payrolls.id"))
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))


class PayrollCounty(Base):
    """The last month a payroll was built for in a county: what its pensions in step are
    paid through (``Pension.paid_with_county``)."""

    __tablename__ = "payroll_counties"

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    paid_through: Mapped[dt.date] = mapped_column(Date)


class CalendarMonth(Base):
    """Every month a payroll may pay (joined to find the months owed to each pensioner)."""

    __tablename__ = "calendar_months"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
