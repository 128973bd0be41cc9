"""Response bodies of the payroll endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class PayrollOut(BaseModel):
    """A payroll, its totals and who did each step."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    month: dt.date
    scope: str
    status: str
    line_count: int
    total_fen: int
    basic_fen: int
    account_fen: int
    excluded_count: int
    built_by: int | None
    reviewed_by: int | None
    approved_by: int | None


class LineOut(BaseModel):
    """One payment line."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pension_id: int
    person_id: int
    kind: str
    month: dt.date
    amount_fen: int
    basic_fen: int
    account_fen: int
    policy_version_id: int
    bank_code: str
    state: str
    reason: str | None
    reissue_of_id: int | None


class ExclusionOut(BaseModel):
    """A pensioner left out, and why."""

    model_config = ConfigDict(from_attributes=True)

    pension_id: int
    reason_code: str
    reason: str
