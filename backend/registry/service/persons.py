"""Registering persons and searching them in the operator's scope."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.reads import mask_name, record_person_read, record_person_search
from backend.db import utcnow
from backend.errors import InvalidInput, invalid
from backend.keys.fields import lookup
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
from receipts import mask_id_number


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
    if session.scalar(
        select(Person.id).where(Person.id_number_hash == lookup("id_number", data.id_number))
    ):
        raise _duplicate_person(session, principal, data.id_number)
    person = _new_person(data)
    try:
        with session.begin_nested():
            session.add(person)
            session.flush()
    except IntegrityError as exc:  # registered by a concurrent request since the check
        raise _duplicate_person(session, principal, data.id_number) from exc
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


#: Partial-name search decrypts the names of the narrowed set; past this many it asks to narrow.
NAME_SCAN_LIMIT = 5000


@dataclass
class PersonSearch:
    """Search criteria, all optional and combined with AND.

    ``id_number``: exact (by its lookup hash). ``name`` with ``name_match``: ``exact`` by
    the name's lookup hash (narrowed by ``region`` and ``birth_year`` when given), or
    ``prefix``/``contains``, which decrypts the names of the set the other criteria leave
    (at most ``NAME_SCAN_LIMIT``). ``status`` may be ``none`` (no active enrolment).
    """

    id_number: str | None = None
    name: str | None = None
    name_match: str = "exact"
    region: str | None = None
    birth_year: int | None = None
    household_number: str | None = None
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


def _name_matches(name: str, wanted: str, how: str) -> bool:
    return name.startswith(wanted) if how == "prefix" else wanted in name


def search_persons(*, session: Session, principal: Principal, search: PersonSearch) -> PersonPage:
    """Persons of the scope matching every given criterion, ordered by id; the search audited.

    A search by ID number is recorded with the person it found (one record per look-up);
    other searches record their criteria (the name masked) and the number found.
    """
    query = select(Person).where(Person.hukou_region_code.startswith(principal.scope.prefix))
    if search.id_number:
        wanted = search.id_number.strip().upper()
        query = query.where(Person.id_number_hash == lookup("id_number", wanted))
    if search.household_number:
        query = query.join(Household, Household.id == Person.household_id).where(
            Household.household_number == search.household_number.strip()
        )
    if search.region:
        query = query.where(Person.hukou_region_code.startswith(search.region))
    if search.birth_year:
        query = query.where(
            Person.birth_date.between(
                dt.date(search.birth_year, 1, 1), dt.date(search.birth_year, 12, 31)
            )
        )
    if search.status == "none":
        query = query.where(~_active_exists())
    elif search.status:
        query = query.where(
            exists().where(Enrolment.person_id == Person.id, Enrolment.status == search.status)
        )
    name = unicodedata.normalize("NFC", search.name.strip()) if search.name else None
    if name and search.name_match == "exact":
        query = query.where(Person.name_hash == lookup("name", name))
    if name and search.name_match != "exact":
        ids = _partial_name_ids(session, query, name, search.name_match)
        total = len(ids)
        page_ids = ids[search.offset : search.offset + search.limit]
        found = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(page_ids)))}
        items = [found[i] for i in page_ids]
    else:
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
    # Last: on PostgreSQL the audit chain's head stays locked until the commit.
    _audit_search(session, principal, search, total, items)
    return PersonPage(total=total, items=items, statuses=statuses)


def _partial_name_ids(session: Session, query: Any, name: str, how: str) -> list[int]:
    """Ids (in order) of the narrowed set whose decrypted name matches; refused when too broad."""
    narrowed = query.with_only_columns(Person.id, Person.name).order_by(Person.id)
    candidates = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if candidates > NAME_SCAN_LIMIT:
        raise invalid(
            "name",
            f"按部分姓名查询的范围内有{candidates}人，超过{NAME_SCAN_LIMIT}人："
            "请填写完整姓名，或用村（社区）、出生年份缩小范围",
            "search_too_broad",
        )
    return [
        person_id
        for person_id, stored in session.execute(narrowed)
        if _name_matches(stored, name, how)
    ]


def _audit_search(
    session: Session, principal: Principal, search: PersonSearch, total: int, items: list[Person]
) -> None:
    if search.id_number:
        record_person_read(
            session=session,
            actor=principal.actor,
            person_id=items[0].id if items else None,
            via="id_number",
            detail={"id_number": mask_id_number(search.id_number.strip().upper()), "found": total},
        )
        return
    criteria = {
        "name": mask_name(search.name) if search.name else None,
        "name_match": search.name_match if search.name else None,
        "household_number": search.household_number,
        "region": search.region,
        "birth_year": search.birth_year,
        "status": search.status,
    }
    record_person_search(
        session=session,
        actor=principal.actor,
        criteria={k: v for k, v in criteria.items() if v is not None},
        found=total,
    )
