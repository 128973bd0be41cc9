"""The registry's reference answers under ``/api/v1``, for pages before they save anything:
the national code tables (pages show names, never codes) and the enrolment rules applied to
a would-be resident (so the counter shows every reason before the clerk saves)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from backend.banks.codes import bank_names
from backend.deps import CurrentPrincipal, DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.codes import ENROLMENT_STATUS_LABELS, ETHNICITIES, GENDERS, RELATIONSHIPS
from backend.registry.eligibility import check_eligibility, load_rules

router = APIRouter()
PersonReader = Annotated[Principal, Depends(Requires(Permission.PERSON_READ))]


class CodeTablesOut(BaseModel):
    """Each table as code → name."""

    ethnicity: dict[str, str]
    relationship: dict[str, str]
    gender: dict[str, str]
    enrolment_status: dict[str, str]
    bank: dict[str, str]


@router.get(
    "/registry/codes",
    response_model=CodeTablesOut,
    tags=["persons"],
    summary="代码表（民族、与户主关系、性别、参保状态、银行）",
)
def code_tables(session: DbSession, principal: CurrentPrincipal) -> CodeTablesOut:
    """What each code the registry stores is called, for any logged-in operator; banks from
    the bank code table, a registered partner by its own name (pensions, cards and
    mandates name banks by code)."""
    return CodeTablesOut(
        ethnicity=ETHNICITIES,
        relationship=RELATIONSHIPS,
        gender=GENDERS,
        enrolment_status={status.value: name for status, name in ENROLMENT_STATUS_LABELS.items()},
        bank=bank_names(session=session),
    )


class EligibilityIn(BaseModel):
    """The facts the enrolment rules look at."""

    model_config = ConfigDict(extra="forbid")

    birth_date: dt.date
    is_student: bool = False
    in_employee_scheme: bool = False
    is_civil_servant: bool = False
    enrolled_on: dt.date | None = Field(default=None, description="参保日期，默认今天")


class ReasonOut(BaseModel):
    """Why the person may not enrol: the rule, the field it concerns, the message."""

    rule: str
    field: str
    message: str


class EligibilityOut(BaseModel):
    """Every reason against enrolling (none: eligible)."""

    eligible: bool
    reasons: list[ReasonOut]


@router.post(
    "/registry/eligibility",
    response_model=EligibilityOut,
    tags=["enrolments"],
    summary="参保资格预审（保存前逐条显示不符合的规则）",
)
def eligibility(body: EligibilityIn, principal: PersonReader) -> EligibilityOut:
    """The enrolment rules in force applied to these facts; changes nothing."""
    reasons = check_eligibility(body, body.enrolled_on or dt.date.today(), load_rules())
    return EligibilityOut(
        eligible=not reasons,
        reasons=[ReasonOut(rule=r.rule, field=r.field, message=r.message) for r in reasons],
    )
