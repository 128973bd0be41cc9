"""Pension applications, the pensioner's record, and each computation of the pension."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow
from backend.keys.fields import Encrypted


class Application(Base):
    """A request to start the pension (maker) and its decision (checker, another operator)."""

    __tablename__ = "benefit_applications"
    __table_args__ = (
        Index(
            "uq_benefit_applications_pending_person",
            "person_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    applied_on: Mapped[dt.date] = mapped_column(Date)
    start_month: Mapped[dt.date] = mapped_column(Date, comment="first day of the first month paid")
    contribution_years: Mapped[int] = mapped_column(SmallInteger)
    balance_fen: Mapped[int] = money_column(comment="account balance when applying")
    policy_version_id: Mapped[int] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    bank_code: Mapped[str] = mapped_column(String(16), comment="bank paying the pension")
    bank_account: Mapped[str] = mapped_column(
        Encrypted("bank_account"), comment="card or account number, encrypted"
    )
    status: Mapped[str] = mapped_column(String(16), comment="pending | approved | rejected")
    note: Mapped[str | None] = mapped_column(String(200))
    maker_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Pension(Base):
    """One pensioner's entitlement: paid monthly from ``start_month`` while receiving."""

    __tablename__ = "pensions"
    __table_args__ = (
        Index("ix_pensions_county_status", "county_code", "status"),
        # The few pensions not in step with the county's payroll month (new, suspended):
        # the payroll finds them without reading every pension.
        Index(
            "ix_pensions_out_of_step",
            "county_code",
            postgresql_where=text("NOT paid_with_county"),
            sqlite_where=text("NOT paid_with_county"),
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), unique=True)
    application_id: Mapped[int] = mapped_column(IdType, ForeignKey("benefit_applications.id"))
    account_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("accounts.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    bank_code: Mapped[str] = mapped_column(String(16))
    bank_account: Mapped[str] = mapped_column(Encrypted("bank_account"))
    status: Mapped[str] = mapped_column(String(16), comment="receiving | suspended | terminated")
    start_month: Mapped[dt.date] = mapped_column(Date)
    # Last month payable; set when the pension ends (death: the month of death).
    end_month: Mapped[dt.date | None] = mapped_column(Date)
    status_code: Mapped[str | None] = mapped_column(
        String(32), comment="why not receiving: overdue_certification | death_match | death"
    )
    status_reason: Mapped[str | None] = mapped_column(String(200))
    status_since: Mapped[dt.date | None] = mapped_column(Date, comment="first month affected")
    # Survival certification: the date by which the next one is due.
    certified_until: Mapped[dt.date | None] = mapped_column(Date)
    # The last month a payroll line was built for; the next payroll pays every month after
    # it, so months missed while suspended come back as back pay on resumption. While
    # ``paid_with_county`` it is not kept here: the pension is paid through the county's last
    # payroll month (``payroll_counties``), so a monthly payroll rewrites no pension row.
    paid_through: Mapped[dt.date | None] = mapped_column(Date)
    paid_with_county: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    contribution_years: Mapped[int] = mapped_column(SmallInteger)
    balance_fen: Mapped[int] = money_column(comment="account balance fixed at the start")
    monthly_fen: Mapped[int] = money_column(comment="current monthly pension")
    # The computation with the latest ``from_month`` (the payroll's regular month needs no
    # search when it starts on or before that month); kept by the payroll and recomputation.
    # Not a foreign key: computations already refer to their pension.
    computation_id: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Computation(Base):
    """The pension from a month onwards, part by part, with the policy version that gave it.

    Append-only: a new policy version adds a computation from its effective month; the
    payroll pays each month by the latest computation starting on or before it.
    """

    __tablename__ = "pension_computations"
    __table_args__ = (
        Index("uq_pension_computations_month", "pension_id", "from_month", unique=True),
    )

    id: Mapped[int] = id_column()
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    from_month: Mapped[dt.date] = mapped_column(Date)
    minimum_fen: Mapped[int] = money_column(comment="national minimum basic pension")
    topup_fen: Mapped[int] = money_column(comment="provincial/county top-up")
    bonus_fen: Mapped[int] = money_column(comment="long-contribution bonus")
    account_fen: Mapped[int] = money_column(comment="account pension, balance ÷ divisor")
    total_fen: Mapped[int] = money_column()
    contribution_years: Mapped[int] = mapped_column(SmallInteger)
    balance_fen: Mapped[int] = money_column()
    divisor: Mapped[int] = mapped_column(SmallInteger)
    policy_version_id: Mapped[int] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    cause: Mapped[str] = mapped_column(String(16), comment="award | policy_change")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PensionDraw(Base):
    """What each month's account pension takes from each source of the account.

    Fixed at the award (the balance and divisor are fixed then), in proportion to the
    balance by source, so inheritance under the 2009 rule still finds the subsidy part.
    """

    __tablename__ = "pension_draws"
    __table_args__ = (Index("uq_pension_draws_source", "pension_id", "source", unique=True),)

    id: Mapped[int] = id_column()
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"))
    source: Mapped[str] = mapped_column(String(24))
    monthly_fen: Mapped[int] = money_column()
    # Month number (year × 12 + month − 1) up to which the source's real balance, last
    # checked, surely covers this draw (each month is drawn at most once); NULL: check it.
    covered_through: Mapped[int | None] = mapped_column(Integer)


class SurvivalCertification(Base):
    """One survival certification (资格认证): how, by whom or which device, and when."""

    __tablename__ = "survival_certifications"

    id: Mapped[int] = id_column()
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"), index=True)
    county_code: Mapped[str] = mapped_column(String(6))
    certified_on: Mapped[dt.date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(
        String(16), comment="counter | kiosk | data_matching | home_visit"
    )
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    device: Mapped[str | None] = mapped_column(String(64))
    next_due: Mapped[dt.date] = mapped_column(Date)
    resumed: Mapped[bool] = mapped_column(default=False, comment="ended an overdue suspension")
    documents_seen: Mapped[str] = mapped_column(
        String(120),
        default="",
        server_default="",
        comment="documents checked, comma-separated (survival_rules.Document)",
    )
    face_outcome: Mapped[str | None] = mapped_column(
        String(16), comment="kiosk face comparison: match | no_match | liveness_failed"
    )
    face_score: Mapped[int | None] = mapped_column(SmallInteger, comment="similarity 0-100")
    face_device: Mapped[str | None] = mapped_column(
        String(64), comment="the face comparison device (profile/serial)"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def documents(self) -> list[str]:
        """The documents seen, as a list of ``survival_rules.Document`` values."""
        return [d for d in self.documents_seen.split(",") if d]


class DeathCase(Base):
    """A reported death: from a counter (maker) or a matched death list, confirmed by a checker.

    Confirmation ends the pension after the month of death, works out what was paid for
    later months, recovers it from the balance and books the rest as owed by the heirs,
    then pays the heirs what the inheritance rule in force leaves, and any funeral grant.
    """

    __tablename__ = "death_cases"
    __table_args__ = (
        Index(
            "uq_death_cases_open_person",
            "person_id",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
            sqlite_where=text("status <> 'rejected'"),
        ),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    pension_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pensions.id"))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    died_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(
        String(24), comment="counter | public_security | civil_affairs | cremation"
    )
    list_sha256: Mapped[str | None] = mapped_column(String(64), comment="death list it came from")
    status: Mapped[str] = mapped_column(String(16), comment="pending | confirmed | rejected")
    overpaid_fen: Mapped[int] = money_column(default=0, comment="paid for months after death")
    recovered_fen: Mapped[int] = money_column(default=0, comment="taken back from the balance")
    receivable_fen: Mapped[int] = money_column(default=0, comment="still owed by the heirs")
    inherited_fen: Mapped[int] = money_column(default=0)
    retained_fen: Mapped[int] = money_column(default=0, comment="subsidy part kept (2009)")
    funeral_grant_fen: Mapped[int] = money_column(default=0)
    policy_version_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("policy_versions.id"))
    heir_name: Mapped[str | None] = mapped_column(Encrypted("name"))
    heir_id_number: Mapped[str | None] = mapped_column(Encrypted("id_number"))
    # The document a counter report was made with, for the checker (lists carry none).
    evidence_kind: Mapped[str | None] = mapped_column(
        String(32),
        comment="death_certificate | cremation_certificate | household_cancellation | other",
    )
    evidence_number: Mapped[str | None] = mapped_column(Encrypted("document_number"))
    evidence_reported_by: Mapped[str | None] = mapped_column(Encrypted("name"))
    evidence_relationship: Mapped[str | None] = mapped_column(String(20))
    maker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    rejection_reason: Mapped[str | None] = mapped_column(String(200), comment="the checker's")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Overpayment(Base):
    """Money paid that was not owed, and what has been recovered of it (DOMAIN.md §5, §11).

    Opened by what found it (a confirmed death, a pension found paid twice, a recomputation
    that lowered months already paid); recovered by deduction from later pensions (the
    payroll keeps back at most the policy's share each month), by repayments at a counter,
    or from the account balance. Append-only recoveries; the totals here follow them.
    """

    __tablename__ = "benefit_overpayments"
    __table_args__ = (
        Index("ix_benefit_overpayments_open", "county_code", "status"),
        Index("uq_benefit_overpayments_ref", "cause", "ref_type", "ref_id", unique=True),
    )

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    pension_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("pensions.id"), index=True)
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    cause: Mapped[str] = mapped_column(
        String(24), comment="death | double_pension | recompute | other"
    )
    ref_type: Mapped[str] = mapped_column(String(32), comment="what found it")
    ref_id: Mapped[int] = mapped_column(IdType)
    debtor: Mapped[str] = mapped_column(String(16), comment="pensioner | heirs")
    method: Mapped[str] = mapped_column(
        String(16), comment="deduction (from later pensions) | instalments (repaid)"
    )
    amount_fen: Mapped[int] = money_column(comment="owed in all")
    recovered_fen: Mapped[int] = money_column(default=0)
    status: Mapped[str] = mapped_column(String(16), comment="open | settled | written_off")
    reason: Mapped[str] = mapped_column(String(200))
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class OverpaymentRecovery(Base):
    """One amount recovered: kept back by a paid payroll line, repaid, or taken from the balance."""

    __tablename__ = "overpayment_recoveries"

    id: Mapped[int] = id_column()
    overpayment_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("benefit_overpayments.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), comment="deduction | repayment | balance")
    amount_fen: Mapped[int] = money_column()
    recovered_on: Mapped[dt.date] = mapped_column(Date)
    payroll_line_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("payroll_lines.id"), unique=True
    )
    receipt_no: Mapped[str | None] = mapped_column(String(32))
    operator_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    journal_entry_id: Mapped[int] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PayeeBankChange(Base):
    """A request to pay a pension to another account: a clerk asks, a reviewer decides.

    Nothing changes until a different operator approves. ``requested_at`` and
    ``approved_at`` stay queryable, so supervision can flag an account changed shortly
    before a payment.
    """

    __tablename__ = "payee_bank_changes"
    __table_args__ = (
        # One open request per pension: a second while one waits is refused.
        Index(
            "uq_payee_bank_changes_pending",
            "pension_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_payee_bank_changes_county_status", "county_code", "status"),
    )

    id: Mapped[int] = id_column()
    pension_id: Mapped[int] = mapped_column(IdType, ForeignKey("pensions.id"), index=True)
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"))
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    old_bank_code: Mapped[str] = mapped_column(String(16))
    old_bank_account: Mapped[str] = mapped_column(Encrypted("bank_account"))
    new_bank_code: Mapped[str] = mapped_column(String(16))
    new_bank_account: Mapped[str] = mapped_column(Encrypted("bank_account"))
    account_holder: Mapped[str] = mapped_column(
        Encrypted("name"), comment="the account holder's name as the clerk read it"
    )
    holder_check: Mapped[str] = mapped_column(
        String(24), comment="name_matches_pensioner (no bank connector answers yet)"
    )
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), comment="pending | approved | rejected")
    maker_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    decision_reason: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
