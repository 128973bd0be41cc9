"""Assessments (核定), counter collections, refunds and tax-bureau result files."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow
from backend.keys.fields import Encrypted, lookup_hash_column_type


class Assessment(Base):
    """One person's contribution year: grade, who pays what, and what has been paid."""

    __tablename__ = "contribution_assessments"
    __table_args__ = (
        Index("uq_contribution_assessments_person_year", "person_id", "year", unique=True),
        Index("ix_contribution_assessments_county_year", "county_code", "year"),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(SmallInteger, comment="AAE001 contribution year")
    grade_fen: Mapped[int] = money_column()
    own_due_fen: Mapped[int] = money_column()
    hardship_group: Mapped[str | None] = mapped_column(String(32))
    hardship_paid_fen: Mapped[int] = money_column(default=0)
    government_subsidy_fen: Mapped[int] = money_column(default=0)
    collective_fen: Mapped[int] = money_column(default=0)
    donation_fen: Mapped[int] = money_column(default=0)
    is_make_up: Mapped[bool] = mapped_column(Boolean, default=False)
    policy_version_id: Mapped[int] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    # Running total of own money received (counter, bank, tax, less reversals and refunds).
    paid_fen: Mapped[int] = money_column(default=0)
    # True once the subsidies of the year have been credited (own part paid in full).
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Collection(Base):
    """Cash taken at a counter, with its receipt; a reversal is a further negative row."""

    __tablename__ = "contribution_collections"

    id: Mapped[int] = id_column()
    assessment_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contribution_assessments.id"), index=True
    )
    county_code: Mapped[str] = mapped_column(String(6))
    amount_fen: Mapped[int] = money_column()
    receipt_no: Mapped[str] = mapped_column(String(32), unique=True)
    collected_on: Mapped[dt.date] = mapped_column(Date)
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    reverses_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contribution_collections.id"), unique=True
    )
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Refund(Base):
    """A refund request (maker) and its decision (checker, a different operator)."""

    __tablename__ = "contribution_refunds"
    __table_args__ = (
        # One pending request per year: two clerks asking at once cannot both succeed.
        Index(
            "uq_contribution_refunds_pending",
            "assessment_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = id_column()
    assessment_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contribution_assessments.id"), index=True
    )
    county_code: Mapped[str] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(String(32), comment="duplicate | employee_overlap")
    note: Mapped[str | None] = mapped_column(String(200))
    amount_fen: Mapped[int] = money_column(comment="own money returned to the resident")
    status: Mapped[str] = mapped_column(String(16), comment="pending | approved | rejected")
    maker_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    rejection_reason: Mapped[str | None] = mapped_column(String(200), comment="the checker's")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class TaxResultFile(Base):
    """A file of contributions collected by the tax bureau (imported once, by content hash)."""

    __tablename__ = "tax_result_files"

    id: Mapped[int] = id_column()
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(200))
    county_code: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16), comment="applied | rejected")
    reason: Mapped[str | None] = mapped_column(String(300))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = money_column(default=0)
    applied_rows: Mapped[int] = mapped_column(Integer, default=0)
    exception_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class TaxResultRow(Base):
    """One row of a tax-bureau file and what became of it."""

    __tablename__ = "tax_result_rows"

    id: Mapped[int] = id_column()
    file_id: Mapped[int] = mapped_column(IdType, ForeignKey("tax_result_files.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    id_number: Mapped[str] = mapped_column(Encrypted("id_number"))
    id_number_hash: Mapped[bytes] = mapped_column(lookup_hash_column_type())
    name: Mapped[str] = mapped_column(Encrypted("name"))
    year: Mapped[int] = mapped_column(SmallInteger)
    amount_fen: Mapped[int] = money_column()
    tax_receipt_no: Mapped[str] = mapped_column(String(40), index=True)
    assessment_id: Mapped[int | None] = mapped_column(IdType)
    resolution: Mapped[str | None] = mapped_column(String(16), comment="applied | exception")
    exception_reason: Mapped[str | None] = mapped_column(String(200))


class DayClose(Base):
    """An office's counter day closed (日结): the totals signed off by the office's reviewer.

    Once a day is closed no collection or reversal of that office can be dated into it.
    The totals are what the summary showed when the reviewer signed.
    """

    __tablename__ = "contribution_day_closes"
    __table_args__ = (
        Index("uq_contribution_day_closes_office_date", "office_id", "business_date", unique=True),
    )

    id: Mapped[int] = id_column()
    office_id: Mapped[int] = mapped_column(IdType, ForeignKey("offices.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    collections_count: Mapped[int] = mapped_column(Integer)
    collected_fen: Mapped[int] = money_column()
    reversals_count: Mapped[int] = mapped_column(Integer)
    reversed_fen: Mapped[int] = money_column(comment="positive: the cash given back")
    deposit_fen: Mapped[int] = money_column(comment="cash to deposit: collected less reversed")
    signed_by: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
