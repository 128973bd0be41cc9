"""Assessments, collections and refunds in and out (money in integer fen)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from backend.schemas import Out


class AssessmentIn(BaseModel):
    """Assess one person's year at a chosen grade."""

    person_id: int
    year: int = Field(ge=2009, le=2100)
    grade_fen: int = Field(gt=0, description="缴费档次（分）")
    hardship_group: str | None = Field(default=None, max_length=32, description="困难群体代码")
    collective_fen: int = Field(default=0, ge=0, description="集体补助（分）")
    donation_fen: int = Field(default=0, ge=0, description="社会捐助（分）")


class AssessmentOut(Out):
    """An assessed year and what has been paid."""

    id: int
    person_id: int
    county_code: str
    year: int
    grade_fen: int
    own_due_fen: int
    hardship_group: str | None
    hardship_paid_fen: int
    government_subsidy_fen: int
    collective_fen: int
    donation_fen: int
    is_make_up: bool
    policy_version_id: int
    paid_fen: int
    settled: bool


class CollectionIn(BaseModel):
    """Cash at the counter; without an amount the whole outstanding part is taken."""

    assessment_id: int
    amount_fen: int | None = Field(default=None, gt=0)


class CollectionOut(Out):
    """A collection (or its reversal) with its receipt number."""

    id: int
    assessment_id: int
    amount_fen: int
    receipt_no: str
    collected_on: dt.date
    operator_id: int | None
    reverses_id: int | None
    reason: str | None


class ReversalIn(BaseModel):
    """Why a collection is reversed."""

    reason: str = Field(min_length=1, max_length=200)


class RefundIn(BaseModel):
    """A refund request for an assessed year."""

    assessment_id: int
    reason: str = Field(pattern="^(duplicate|employee_overlap)$")
    note: str | None = Field(default=None, max_length=200)


class RefundOut(Out):
    """A refund request and its decision."""

    id: int
    assessment_id: int
    reason: str
    note: str | None
    amount_fen: int
    status: str
    maker_id: int
    checker_id: int | None
    rejection_reason: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class PersonRefundOut(RefundOut):
    """A refund request in a person's history, with the year it is for."""

    year: int


class DayCloseIn(BaseModel):
    """The day the office's reviewer signs off."""

    business_date: dt.date = Field(description="日结日期")


class KindTotalOut(BaseModel):
    """Collections of one kind: current (本年度缴费) or make_up (补缴)."""

    kind: str
    count: int
    amount_fen: int


class ClerkDayOut(BaseModel):
    """One operator's cash for the day."""

    operator_id: int
    operator_name: str
    by_kind: list[KindTotalOut]
    collections_count: int
    collected_fen: int
    reversals_count: int
    reversed_fen: int
    receipts_issued: int
    receipts_voided: int
    deposit_fen: int


class DayCloseOut(Out):
    """A signed-off day."""

    id: int
    business_date: dt.date
    collections_count: int
    collected_fen: int
    reversals_count: int
    reversed_fen: int
    deposit_fen: int
    signed_by: int
    signed_at: dt.datetime


class DayLineOut(BaseModel):
    """One collection or reversal of the day."""

    id: int
    receipt_no: str
    person_id: int
    person_name: str
    year: int
    kind: str
    amount_fen: int
    operator_id: int
    operator_name: str
    reverses_id: int | None
    reversed_by_id: int | None


class DaySummaryOut(BaseModel):
    """An office's counter day (日结): every clerk, the totals, the sign-off if any."""

    office_id: int
    office_name: str
    business_date: dt.date
    clerks: list[ClerkDayOut]
    lines: list[DayLineOut]
    collections_count: int
    collected_fen: int
    reversals_count: int
    reversed_fen: int
    deposit_fen: int
    closed: DayCloseOut | None
    signed_by_name: str | None = None


class GradeOptionOut(BaseModel):
    """One grade: what the resident pays and what the government adds."""

    grade_fen: int
    own_due_fen: int
    hardship_paid_fen: int
    government_subsidy_fen: int


class HardshipChoiceOut(BaseModel):
    """A hardship group whose lowest grade the government pays (代缴)."""

    code: str
    label: str


class QuoteOut(BaseModel):
    """Every grade of a person's year, before assessing it; ``make_up`` for a past year."""

    person_id: int
    year: int
    make_up: bool
    policy_version_id: int
    options: list[GradeOptionOut]
    hardship_groups: list[HardshipChoiceOut]
