"""Registering persons and searching them in the operator's scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.errors import InvalidInput, invalid
from backend.orgs.service import Principal
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Household, Person
from backend.registry.service._common import (
    _audit,
    _check_village,
    _duplicate_person,
    _known_village,
)
from backend.registry.service.households import _insert_household, _join_household
from backend.registry.validation import PersonData, validate_person


def create_person(
    *,
    session: Session,
    principal: Principal,
    person_in: Mapping[str, str | None],
    today: dt.date | None = None,
) -> Person:
    """Register a resident from raw fields (validated by ``validate_person``) in the scope."""
    data, errors = validate_person(
        person_in,
        known_villages=_known_village(session, person_in.get("hukou_region_code")),
        today=today,
    )
    if errors or data is None:
        raise InvalidInput(
            detail="; ".join(f"{e.field}: {e.message}" for e in errors), fields=errors
        )
    _check_village(session, principal, "hukou_region_code", data.hukou_region_code)
    if data.relationship_code and not data.household_number:
        raise invalid("household_number", "填写与户主关系时须同时填写户号", "required")
    if data.household_number and not data.relationship_code:
        raise invalid("relationship_code", "填写户号时须同时填写与户主关系", "required")
    if session.scalar(select(Person.id).where(Person.id_number == data.id_number)):
        raise _duplicate_person(session, data.id_number)
    person = _new_person(data)
    try:
        with session.begin_nested():
            session.add(person)
            session.flush()
    except IntegrityError as exc:  # registered by a concurrent request since the check
        raise _duplicate_person(session, data.id_number) from exc
    _audit(
        principal,
        session,
        "person.create",
        "person",
        person.id,
        region_code=person.hukou_region_code,
    )
    if data.household_number and data.relationship_code:
        household = session.scalar(
            select(Household).where(Household.household_number == data.household_number)
        )
        if household is None:
            household = _insert_household(
                session, principal, data.household_number, data.hukou_region_code, data.address
            )
        elif household.region_code != data.hukou_region_code:
            raise invalid("household_number", "户号所属村与户籍地不一致", "household_mismatch")
        _join_household(
            session,
            principal,
            household,
            person,
            data.relationship_code,
            "relationship_code",
        )
    return person


def _new_person(data: PersonData) -> Person:
    now = utcnow()
    return Person(
        id_number=data.id_number,
        name=data.name,
        gender=data.gender,
        ethnicity=data.ethnicity,
        birth_date=data.birth_date,
        hukou_region_code=data.hukou_region_code,
        county_code=data.county_code,
        address=data.address,
        phone=data.phone,
        is_student=data.is_student,
        in_employee_scheme=data.in_employee_scheme,
        is_civil_servant=data.is_civil_servant,
        created_at=now,
        updated_at=now,
    )


@dataclass
class PersonSearch:
    """Search criteria; ``name_match`` is ``prefix`` or ``contains``; ``status`` may be ``none``."""

    id_number: str | None = None
    name: str | None = None
    name_match: str = "prefix"
    region: str | None = None
    status: str | None = None
    offset: int = 0
    limit: int = 50


@dataclass
class PersonPage:
    """One page of persons, each with the status of its active enrolment (if any)."""

    total: int
    items: list[Person] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)


def _active_exists() -> Any:
    return exists().where(
        Enrolment.person_id == Person.id, Enrolment.status != EnrolmentStatus.TERMINATED.value
    )


def search_persons(*, session: Session, principal: Principal, search: PersonSearch) -> PersonPage:
    """Persons of the scope matching every given criterion, ordered by id."""
    query = select(Person).where(Person.hukou_region_code.startswith(principal.scope.prefix))
    if search.id_number:
        query = query.where(Person.id_number == search.id_number.strip().upper())
    if search.name:
        if search.name_match == "contains":
            query = query.where(Person.name.contains(search.name, autoescape=True))
        else:
            query = query.where(Person.name.startswith(search.name, autoescape=True))
    if search.region:
        query = query.where(Person.hukou_region_code.startswith(search.region))
    if search.status == "none":
        query = query.where(~_active_exists())
    elif search.status:
        query = query.where(
            exists().where(Enrolment.person_id == Person.id, Enrolment.status == search.status)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        session.scalars(query.order_by(Person.id).offset(search.offset).limit(search.limit))
    )
    statuses: dict[int, str] = {}
    if items:
        rows = session.execute(
            select(Enrolment.person_id, Enrolment.status).where(
                Enrolment.person_id.in_([p.id for p in items]),
                Enrolment.status != EnrolmentStatus.TERMINATED.value,
            )
        )
        statuses = {person_id: status for person_id, status in rows}
    return PersonPage(total=total, items=items, statuses=statuses)
