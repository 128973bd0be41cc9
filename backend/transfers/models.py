"""Transfers: between counties, out of the province, and with the employee scheme (衔接)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow


class Transfer(Base):
    """A contributor's move: the old enrolment ends, the whole balance goes along, once."""

    __tablename__ = "transfers"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(
        String(24), comment="county | out_of_province | employee_scheme"
    )
    from_enrolment_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("enrolments.id"), unique=True, comment="a move happens once"
    )
    to_enrolment_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("enrolments.id"))
    from_county: Mapped[str] = mapped_column(String(6))
    to_county: Mapped[str | None] = mapped_column(String(6))
    to_agency: Mapped[str | None] = mapped_column(
        String(100), comment="other province's or the employee scheme's agency"
    )
    transferred_on: Mapped[dt.date] = mapped_column(Date)
    balance_fen: Mapped[int] = money_column()
    contribution_years: Mapped[int] = mapped_column(SmallInteger)
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmployeeSchemeYear(Base):
    """A year the person paid into the employee scheme, as its agency certified it (衔接).

    Recorded once per person and year. It counts as a contribution year of the residents'
    scheme once the employee balance has moved in (``transfer_in_id``); a residents' year
    that overlaps it is refunded (own payment to the person, subsidies back to the fund).
    """

    __tablename__ = "employee_scheme_years"
    __table_args__ = (
        Index("uq_employee_scheme_years_person_year", "person_id", "year", unique=True),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    year: Mapped[int] = mapped_column(SmallInteger, comment="AAE001 contribution year")
    agency: Mapped[str] = mapped_column(String(100), comment="employee-scheme agency")
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    transfer_in_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("employee_transfers_in.id"), comment="counted from this transfer on"
    )
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmployeeTransferIn(Base):
    """The employee-scheme balance of someone with fewer than the minimum years, moved in once."""

    __tablename__ = "employee_transfers_in"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("persons.id"), unique=True, comment="moves in once"
    )
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    agency: Mapped[str] = mapped_column(String(100))
    transferred_on: Mapped[dt.date] = mapped_column(Date)
    balance_fen: Mapped[int] = money_column(comment="employee account balance moved in")
    employee_years: Mapped[int] = mapped_column(SmallInteger)
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PersonList(Base):
    """A list of people from another agency matched against the registry, once per file.

    Death lists (public security, civil affairs, cremation) and the employee agency's
    pensioner lists; the SHA-256 makes a second import of the same file change nothing.
    """

    __tablename__ = "person_lists"

    id: Mapped[int] = id_column()
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24), comment="death | employee_pensioners")
    source: Mapped[str] = mapped_column(String(100), comment="death source, or the agency")
    file_name: Mapped[str] = mapped_column(String(200))
    row_count: Mapped[int] = mapped_column(Integer)
    rejected_rows: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DoublePensionCase(Base):
    """Someone receiving the residents' pension and an employee pension (DOMAIN.md §5, §11).

    Opened by a matched list: the residents' pension is suspended at once. A checker's
    confirmation ends it from the month the employee pension started, opens the overpayment
    of the basic pension paid for the overlapping months (recovered from the balance first,
    the rest owed by the person) and moves what is left of the balance to the employee
    scheme. A rejection resumes payment.
    """

    __tablename__ = "double_pension_cases"
    __table_args__ = (
        Index(
            "uq_double_pension_cases_open_person",
            "person_id",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
            sqlite_where=text("status <> 'rejected'"),
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    list_id: Mapped[int] = mapped_column(IdType, ForeignKey("person_lists.id"))
    employee_start_month: Mapped[dt.date] = mapped_column(
        Date, comment="first month of the employee pension"
    )
    status: Mapped[str] = mapped_column(String(16), comment="pending | confirmed | rejected")
    overpaid_fen: Mapped[int] = money_column(
        default=0, comment="basic pension paid for months from the employee start"
    )
    recovered_fen: Mapped[int] = money_column(default=0, comment="taken back from the balance")
    receivable_fen: Mapped[int] = money_column(default=0, comment="still owed by the person")
    transferred_fen: Mapped[int] = money_column(default=0, comment="balance sent on")
    overpayment_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("benefit_overpayments.id")
    )
    transfer_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("transfers.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    rejection_reason: Mapped[str | None] = mapped_column(String(200), comment="the checker's")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
