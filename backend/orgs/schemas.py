"""Request and response models of regions, offices and operators."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from backend.orgs.permissions import Role
from backend.schemas import Out

RegionCode = Annotated[str, Field(pattern=r"^\d{12}$", description="12位统计用区划代码")]


class RegionOut(Out):
    code: str
    name: str
    level: int
    parent_code: str | None
    illustrative: bool


class OfficeIn(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    region_code: RegionCode


class OfficeOut(Out):
    id: int
    code: str
    name: str
    region_code: str


class OperatorIn(BaseModel):
    username: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[a-z0-9_.-]+$")]
    full_name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role
    office_id: int
    password: Annotated[str, Field(min_length=1, max_length=256)]


class OperatorPatch(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    password: Annotated[str | None, Field(min_length=1, max_length=256)] = None


class OperatorOut(Out):
    id: int
    username: str
    full_name: str
    role: str
    office_id: int
    is_active: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
