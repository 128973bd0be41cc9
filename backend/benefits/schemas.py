"""Request and response bodies of the pension endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.benefits.survival_rules import Document, Method


class ReasonOut(BaseModel):
    """One reason a person does not qualify."""

    rule: str
    message: str


class PartsOut(BaseModel):
    """A monthly pension part by part (fen) and the policy version that gave it."""

    model_config = ConfigDict(from_attributes=True)

    policy_version_id: int
    minimum_fen: int
    topup_fen: int
    bonus_fen: int
    account_fen: int
    total_fen: int
    contribution_years: int
    balance_fen: int
    divisor: int


class QualificationOut(BaseModel):
    """A qualification check and the pension it would give from the start month."""

    person_id: int
    on: dt.date
    qualifies: bool
    reasons: list[ReasonOut]
    start_month: dt.date
    pension: PartsOut


class BankIn(BaseModel):
    """The bank and the card or account number a pension is paid to."""

    bank_code: str = Field(min_length=2, max_length=16, pattern=r"^[0-9A-Z]+$")
    bank_account: str = Field(min_length=8, max_length=34, pattern=r"^[0-9A-Z]+$")


class BankChangeIn(BankIn):
    """Ask to pay a pension to another account (a reviewer decides)."""

    account_holder: str = Field(
        min_length=1, max_length=100, description="账户户名（须为领取人本人）"
    )
    reason: str = Field(min_length=1, max_length=200, description="变更原因")


class BankChangeOut(BaseModel):
    """A request to change the payee account and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pension_id: int
    person_id: int
    old_bank_code: str
    old_bank_account: str
    new_bank_code: str
    new_bank_account: str
    account_holder: str
    holder_check: str = Field(description="name_matches_pensioner：户名已与领取人姓名核对")
    reason: str
    status: str = Field(description="pending | approved | rejected")
    maker_id: int
    checker_id: int | None
    decision_reason: str | None
    requested_at: dt.datetime
    approved_at: dt.datetime | None
    rejected_at: dt.datetime | None


class ApplicationIn(BankIn):
    """Apply for the pension on behalf of a person."""

    person_id: int
    applied_on: dt.date | None = None


class DecisionIn(BaseModel):
    """A checker's note on the decision."""

    note: str | None = Field(default=None, max_length=200)


class ApplicationOut(BaseModel):
    """An application and its decision."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    county_code: str
    applied_on: dt.date
    start_month: dt.date
    contribution_years: int
    balance_fen: int
    policy_version_id: int
    bank_code: str
    bank_account: str
    status: str
    note: str | None
    maker_id: int
    checker_id: int | None


class CertificationIn(BaseModel):
    """A survival certification taken at a counter, kiosk, visit or by data matching.

    ``documents_seen``: what the clerk checked (a counter certification names at least one
    identity document: ``survival_rules.documents_problem``)."""

    method: Method
    certified_on: dt.date | None = None
    documents_seen: Annotated[list[Document], Field(max_length=len(Document))] = []


class CertificationOut(BaseModel):
    """A recorded certification and when the next one is due."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pension_id: int
    certified_on: dt.date
    method: str
    operator_id: int | None
    device: str | None
    next_due: dt.date
    resumed: bool
    documents_seen: list[str] = Field(validation_alias="documents")
    face_outcome: str | None
    face_score: int | None
    face_device: str | None


class ComputationOut(PartsOut):
    """One stored computation: from which month, and why it was made."""

    from_month: dt.date
    cause: str


class PensionOut(BaseModel):
    """A pensioner's record with every computation."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    bank_code: str
    bank_account: str
    status: str
    start_month: dt.date
    end_month: dt.date | None
    status_code: str | None
    status_reason: str | None
    paid_through: dt.date | None
    certified_until: dt.date | None
    monthly_fen: int
    computations: list[ComputationOut] = []


class DeathEvidenceIn(BaseModel):
    """The document a death was reported with (recorded with the report, audited)."""

    kind: Literal["death_certificate", "cremation_certificate", "household_cancellation", "other"]
    number: str = Field(min_length=1, max_length=40, description="证明编号")
    reported_by: str = Field(min_length=1, max_length=50, description="报告人姓名")
    relationship: str = Field(min_length=1, max_length=20, description="报告人与死者关系")


class DeathIn(BaseModel):
    """A death reported at the counter, with the evidence the clerk saw."""

    person_id: int
    died_on: dt.date
    evidence: DeathEvidenceIn | None = None


class DeathDecisionIn(BaseModel):
    """The checker's decision; heirs are named when confirming."""

    heir_name: str | None = Field(default=None, max_length=50)
    heir_id_number: str | None = Field(default=None, min_length=18, max_length=18)


class DeathCaseOut(BaseModel):
    """A death case and how the account was settled."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    pension_id: int | None
    died_on: dt.date
    source: str
    status: str
    overpaid_fen: int
    recovered_fen: int
    receivable_fen: int
    inherited_fen: int
    retained_fen: int
    funeral_grant_fen: int
    policy_version_id: int | None
    maker_id: int | None
    checker_id: int | None
    rejection_reason: str | None


class OverpaymentOut(BaseModel):
    """An overpayment: who owes what, why, and how much is recovered."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    pension_id: int | None
    cause: str
    ref_type: str
    ref_id: int
    debtor: str
    method: str
    amount_fen: int
    recovered_fen: int
    status: str
    reason: str


class RepaymentIn(BaseModel):
    """Cash repaid at the counter against an overpayment."""

    amount_fen: int = Field(gt=0, le=10_000_000_00)
    receipt_no: str = Field(min_length=1, max_length=32)
    on: dt.date | None = None


class RecoveryOut(BaseModel):
    """One recovered amount."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    overpayment_id: int
    kind: str
    amount_fen: int
    recovered_on: dt.date
    payroll_line_id: int | None
    receipt_no: str | None
