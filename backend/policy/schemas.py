"""Policy versions in and out."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, Field

from backend.schemas import Out


class VersionIn(BaseModel):
    """A proposed version; ``rules`` in the yuan/percent form of the data files."""

    region_prefix: str = Field(max_length=6, description="'' 全国，2位省级，6位县级")
    valid_from: dt.date
    valid_to: dt.date | None = None
    name: str = Field(min_length=1, max_length=200)
    source: str = Field(default="", max_length=300, description="政策文号")
    inherit: bool = Field(default=False, description="未给出的规则继承上级版本")
    rules: dict[str, Any]


class VersionOut(Out):
    """A stored version."""

    id: int
    region_prefix: str
    valid_from: dt.date
    valid_to: dt.date | None
    name: str
    source: str
    status: str
    maker_id: int | None
    checker_id: int | None
    rules_sha256: str


class VersionDetail(VersionOut):
    """A version with its complete (merged) rules."""

    rules: dict[str, Any]

    @classmethod
    def of(cls, version: Any) -> VersionDetail:
        """Build from an ORM version."""
        base = VersionOut.model_validate(version).model_dump()
        return cls(**base, rules=json.loads(version.rules_json))


class RulesOut(BaseModel):
    """The rules in force at a region on a date."""

    version_id: int
    region_prefix: str
    on: dt.date
    rules: dict[str, Any]
