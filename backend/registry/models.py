"""Persons, households, enrolments and the history of each."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow
from backend.keys.fields import Encrypted, lookup, lookup_hash_column_type


class Household(Base):
    """A household (户) registered in a village."""

    __tablename__ = "households"

    id: Mapped[int] = id_column()
    household_number: Mapped[str] = mapped_column(String(32), unique=True, comment="户号")
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"), index=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    address: Mapped[str | None] = mapped_column(Encrypted("address"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list[Person]] = relationship(viewonly=True, lazy="select", order_by="Person.id")


class Person(Base):
    """A resident, keyed naturally by the citizen ID number (AAC002).

    ID number, name, address and phone are encrypted at rest (``backend.keys.fields``);
    the ID number and the name carry keyed lookup hashes, kept in step by ``validates``,
    for exact search. The ID number is unique by its hash.
    """

    __tablename__ = "persons"
    __table_args__ = (
        Index(
            "ix_persons_region_pattern",
            "hukou_region_code",
            postgresql_ops={"hukou_region_code": "varchar_pattern_ops"},
        ),
        Index("ix_persons_name_hash", "name_hash", "birth_date"),
    )

    id: Mapped[int] = id_column(comment="AAC001")
    id_number: Mapped[str] = mapped_column(Encrypted("id_number"), comment="AAC002, encrypted")
    id_number_hash: Mapped[bytes] = mapped_column(
        lookup_hash_column_type(), unique=True, comment="HMAC-SHA256 lookup hash of AAC002"
    )
    name: Mapped[str] = mapped_column(Encrypted("name"), comment="AAC003, encrypted")
    name_hash: Mapped[bytes] = mapped_column(
        lookup_hash_column_type(), comment="HMAC-SHA256 lookup hash of AAC003"
    )
    gender: Mapped[str] = mapped_column(String(1), comment="AAC004 GB/T 2261.1")
    ethnicity: Mapped[str] = mapped_column(String(2), comment="AAC005 GB 3304")
    birth_date: Mapped[dt.date] = mapped_column(Date, comment="AAC006")
    hukou_region_code: Mapped[str] = mapped_column(
        String(12), ForeignKey("regions.code"), comment="household-register village"
    )
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    address: Mapped[str | None] = mapped_column(Encrypted("address"))
    phone: Mapped[str | None] = mapped_column(Encrypted("phone"))
    is_student: Mapped[bool] = mapped_column(Boolean, default=False)
    in_employee_scheme: Mapped[bool] = mapped_column(Boolean, default=False)
    is_civil_servant: Mapped[bool] = mapped_column(Boolean, default=False)
    household_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("households.id"), index=True
    )
    relationship_code: Mapped[str | None] = mapped_column(
        String(2), comment="GB/T 4761 relation to the household head"
    )
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    household: Mapped[Household | None] = relationship(lazy="selectin")
    enrolments: Mapped[list[Enrolment]] = relationship(
        viewonly=True, lazy="select", order_by="Enrolment.id"
    )
    changes: Mapped[list[PersonChange]] = relationship(
        viewonly=True, lazy="select", order_by="PersonChange.id"
    )

    # Optimistic concurrency: every UPDATE checks and increments ``version``.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy declares its type)

    @validates("id_number", "name")
    def _keep_lookup_hash(self, key: str, value: str) -> str:
        setattr(self, f"{key}_hash", lookup(key, value))
        return value


class PersonChange(Base):
    """A change of one personal field: applied history, or a pending maker-checker request."""

    __tablename__ = "person_changes"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Encrypted("person_change"))
    new_value: Mapped[str | None] = mapped_column(Encrypted("person_change"))
    reason: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), comment="applied | pending | rejected")
    maker_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Enrolment(Base):
    """Enrolment of a person in the residents' scheme (AAE140 = 170) in a region."""

    __tablename__ = "enrolments"
    __table_args__ = (
        # One active enrolment per person, nationwide (within this province's database).
        Index(
            "uq_enrolments_active_person",
            "person_id",
            unique=True,
            postgresql_where=text("status <> 'terminated'"),
            sqlite_where=text("status <> 'terminated'"),
        ),
        Index(
            "ix_enrolments_region_pattern",
            "region_code",
            postgresql_ops={"region_code": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), comment="AAC008")
    enrolled_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    events: Mapped[list[EnrolmentEvent]] = relationship(
        lazy="selectin", order_by="EnrolmentEvent.id"
    )


class EnrolmentEvent(Base):
    """A dated status change of an enrolment (the enrolment's history)."""

    __tablename__ = "enrolment_events"

    id: Mapped[int] = id_column()
    enrolment_id: Mapped[int] = mapped_column(IdType, ForeignKey("enrolments.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
