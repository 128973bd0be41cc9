"""The registry's national code tables under ``/api/v1``: pages show names, never codes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from backend.deps import CurrentPrincipal
from backend.registry.codes import ENROLMENT_STATUS_LABELS, ETHNICITIES, GENDERS, RELATIONSHIPS

router = APIRouter()


class CodeTablesOut(BaseModel):
    """Each table as code → name."""

    ethnicity: dict[str, str]
    relationship: dict[str, str]
    gender: dict[str, str]
    enrolment_status: dict[str, str]


@router.get(
    "/registry/codes",
    response_model=CodeTablesOut,
    tags=["persons"],
    summary="代码表（民族、与户主关系、性别、参保状态）",
)
def code_tables(principal: CurrentPrincipal) -> CodeTablesOut:
    """What each code the registry stores is called, for any logged-in operator."""
    return CodeTablesOut(
        ethnicity=ETHNICITIES,
        relationship=RELATIONSHIPS,
        gender=GENDERS,
        enrolment_status={status.value: name for status, name in ENROLMENT_STATUS_LABELS.items()},
    )
