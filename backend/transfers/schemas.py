"""Transfers in and out (Pydantic)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class TransferIn(BaseModel):
    """A transfer into this county (household register moved) or out of the province."""

    person_id: int
    transferred_on: dt.date | None = None
    to_agency: str | None = Field(default=None, max_length=100)


class TransferOut(BaseModel):
    """A transfer done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    kind: str
    from_county: str
    to_county: str | None
    to_agency: str | None
    balance_fen: int
    contribution_years: int
    to_enrolment_id: int | None
