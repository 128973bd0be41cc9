"""Request and response models of persons, households, enrolments and personal-data changes.

Input fields arrive as the counter page sends them and are checked by
``validation.validate_person`` (the one validation path); the lengths here only
refuse absurd payloads early, with the field named.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.registry.codes import EnrolmentStatus
from backend.schemas import Out
from receipts import mask_id_number

RegionCode = Annotated[str, Field(pattern=r"^\d{12}$", description="12位统计用区划代码")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_In):
    """A new resident (参保人员基本信息)."""

    id_number: Annotated[str, Field(max_length=32, description="公民身份号码（GB 11643）")]
    name: Annotated[str, Field(max_length=100, description="姓名，可含生僻字")]
    ethnicity: Annotated[str, Field(max_length=2, description="民族代码（GB 3304）")]
    hukou_region_code: Annotated[str, Field(max_length=32, description="户籍所在村（12位区划）")]
    gender: Annotated[str | None, Field(max_length=1, description="性别，须与身份证号一致")] = None
    birth_date: Annotated[
        str | None, Field(max_length=10, description="出生日期，须与身份证号一致")
    ] = None
    address: Annotated[str | None, Field(max_length=400)] = None
    phone: Annotated[str | None, Field(max_length=32)] = None
    is_student: bool = False
    in_employee_scheme: bool = False
    is_civil_servant: bool = False
    household_number: Annotated[str | None, Field(max_length=64, description="户号")] = None
    relationship_code: Annotated[
        str | None, Field(max_length=2, description="与户主关系（GB/T 4761）")
    ] = None


class PersonPatch(_In):
    """Changed personal data; ID number and name (and the birth date they carry) need review."""

    id_number: Annotated[str | None, Field(max_length=32)] = None
    name: Annotated[str | None, Field(max_length=100)] = None
    birth_date: Annotated[
        str | None,
        Field(max_length=10, description="出生日期由身份证号派生，只用于核对"),
    ] = None
    ethnicity: Annotated[str | None, Field(max_length=2)] = None
    hukou_region_code: Annotated[str | None, Field(max_length=32)] = None
    address: Annotated[str | None, Field(max_length=400)] = None
    phone: Annotated[str | None, Field(max_length=32)] = None
    is_student: bool | None = None
    in_employee_scheme: bool | None = None
    is_civil_servant: bool | None = None
    reason: Annotated[str | None, Field(max_length=200, description="变更原因")] = None
    version: Annotated[int | None, Field(ge=1, description="读取时的版本号，用于并发控制")] = None


class PersonOut(Out):
    id: int
    id_number: str
    name: str
    gender: str
    ethnicity: str
    birth_date: dt.date
    hukou_region_code: str
    county_code: str
    address: str | None
    phone: str | None
    is_student: bool
    in_employee_scheme: bool
    is_civil_servant: bool
    household_id: int | None
    relationship_code: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonListItem(Out):
    """A person in a list: the ID number masked (first six and last four characters)."""

    id: int
    id_number_masked: str = Field(description="脱敏的身份证号码（前6位与后4位）")
    name: str
    gender: str
    birth_date: dt.date
    hukou_region_code: str
    county_code: str
    household_id: int | None
    relationship_code: str | None
    enrolment_status: str | None = Field(default=None, description="当前有效参保状态")

    @classmethod
    def from_person(cls, person: Any, *, enrolment_status: str | None) -> PersonListItem:
        """The list form of a stored person."""
        return cls(
            id=person.id,
            id_number_masked=mask_id_number(person.id_number),
            name=person.name,
            gender=person.gender,
            birth_date=person.birth_date,
            hukou_region_code=person.hukou_region_code,
            county_code=person.county_code,
            household_id=person.household_id,
            relationship_code=person.relationship_code,
            enrolment_status=enrolment_status,
        )


class PersonSearchIn(_In):
    """One way to find a person: ID number, or name (optionally narrowed), or household."""

    id_number: Annotated[
        str | None, Field(min_length=1, max_length=18, description="身份证号码（精确）")
    ] = None
    name: Annotated[str | None, Field(min_length=1, max_length=50, description="姓名")] = None
    name_match: Literal["exact", "prefix", "contains"] = Field(
        default="exact", description="姓名匹配方式：完整、前缀或包含（后两者须缩小范围）"
    )
    region: Annotated[
        str | None,
        Field(pattern=r"^\d{2,12}$", description="区划代码前缀（如乡镇9位、村12位）"),
    ] = None
    birth_year: Annotated[int | None, Field(ge=1880, le=2100, description="出生年份")] = None
    household_number: Annotated[
        str | None, Field(min_length=1, max_length=32, description="户号")
    ] = None
    status: Literal["paying", "suspended", "receiving", "terminated", "none"] | None = Field(
        default=None, description="参保状态；none 表示当前未参保"
    )
    offset: Annotated[int, Field(ge=0, description="跳过的条数")] = 0
    limit: Annotated[int, Field(ge=1, le=500, description="每页条数")] = 50

    def search_key(self) -> str | None:
        """The one search key given, or None when none or several are."""
        given = [k for k in ("id_number", "name", "household_number") if getattr(self, k)]
        return given[0] if len(given) == 1 else None


class PersonChangeOut(Out):
    id: int
    person_id: int
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None
    status: str
    maker_id: int
    checker_id: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class EnrolmentEventOut(Out):
    id: int
    status: str
    effective_date: dt.date
    reason: str | None
    operator_id: int | None
    at: dt.datetime


class EnrolmentOut(Out):
    id: int
    person_id: int
    region_code: str
    county_code: str
    status: str
    enrolled_on: dt.date
    ended_on: dt.date | None
    created_at: dt.datetime
    events: list[EnrolmentEventOut]


class HouseholdBrief(Out):
    id: int
    household_number: str
    region_code: str
    address: str | None


class PersonDetail(PersonOut):
    household: HouseholdBrief | None
    enrolments: list[EnrolmentOut]
    changes: list[PersonChangeOut]


class PersonChangeResult(BaseModel):
    """What a change request did: applied at once, or waiting for a reviewer (202)."""

    person: PersonOut
    applied: list[PersonChangeOut]
    pending: list[PersonChangeOut]


class ChangeDecisionIn(_In):
    reason: Annotated[str | None, Field(max_length=200, description="复核意见")] = None


class EnrolmentIn(_In):
    """Enrol a registered person where their household register is."""

    person_id: int
    enrolled_on: dt.date | None = Field(default=None, description="参保日期，默认今天")


class EnrolmentStatusIn(_In):
    status: EnrolmentStatus
    effective_date: dt.date | None = Field(default=None, description="生效日期，默认今天")
    reason: Annotated[str | None, Field(max_length=200)] = None


class HouseholdIn(_In):
    household_number: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z-]+$", description="户号")
    ]
    region_code: RegionCode
    address: Annotated[str | None, Field(max_length=200)] = None


class HouseholdMemberIn(_In):
    person_id: int
    relationship_code: Annotated[str, Field(max_length=2, description="与户主关系（GB/T 4761）")]


class HouseholdMemberOut(Out):
    id: int
    id_number: str
    name: str
    gender: str
    birth_date: dt.date
    relationship_code: str | None


class HouseholdOut(Out):
    id: int
    household_number: str
    region_code: str
    county_code: str
    address: str | None
    created_at: dt.datetime


class HouseholdDetail(HouseholdOut):
    members: list[HouseholdMemberOut]
