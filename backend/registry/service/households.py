"""Households (户) and their members, in villages of the operator's scope."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.reads import record_person_read
from backend.db import utcnow
from backend.errors import Conflict, FieldError, NotFound, invalid
from backend.orgs.service import Principal, get_in_scope
from backend.registry.codes import RELATIONSHIPS
from backend.registry.models import Household, Person
from backend.registry.service._common import _audit, _check_village, _flush_person, get_person
from backend.registry.service.changes import _history

HEAD_OF_HOUSEHOLD = "02"


def get_household(*, session: Session, principal: Principal, household_id: int) -> Household:
    """One household of the scope; outside it, ``NotFound`` (refusal audited)."""
    return get_in_scope(
        session=session,
        principal=principal,
        model=Household,
        object_id=household_id,
        region_of=lambda found: found.region_code,
        detail=f"户{household_id}不存在",
        code="household_not_found",
    )


def read_household(*, session: Session, principal: Principal, household_id: int) -> Household:
    """``get_household`` for a view that shows the members: one audited read per member."""
    household = get_household(session=session, principal=principal, household_id=household_id)
    for member in household.members:
        record_person_read(
            session=session,
            actor=principal.actor,
            person_id=member.id,
            via="household",
            detail={"household_id": household.id},
        )
    return household


def _insert_household(
    session: Session, principal: Principal, number: str, region_code: str, address: str | None
) -> Household:
    household = Household(
        household_number=number,
        region_code=region_code,
        county_code=region_code[:6],
        address=address,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(household)
            session.flush()
    except IntegrityError as exc:  # created by a concurrent request since the check
        raise _duplicate_household(number) from exc
    _audit(
        principal,
        session,
        "household.create",
        "household",
        household.id,
        household_number=number,
        region_code=region_code,
    )
    return household


def _duplicate_household(number: str) -> Conflict:
    return Conflict(
        detail=f"户号{number}已存在",
        code="household_exists",
        fields=[FieldError("household_number", "户号已存在", "duplicate")],
    )


def create_household(
    *,
    session: Session,
    principal: Principal,
    household_number: str,
    region_code: str,
    address: str | None = None,
) -> Household:
    """Register a household in a village of the scope."""
    _check_village(session, principal, "region_code", region_code)
    if session.scalar(select(Household.id).where(Household.household_number == household_number)):
        raise _duplicate_household(household_number)
    return _insert_household(session, principal, household_number, region_code, address)


def list_households(
    *,
    session: Session,
    principal: Principal,
    region: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Household]]:
    """Households of the scope, optionally under a region prefix, by household number."""
    query = select(Household).where(Household.region_code.startswith(principal.scope.prefix))
    if region:
        query = query.where(Household.region_code.startswith(region))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Household.household_number).offset(offset).limit(limit))
    return total, list(page)


def _join_household(
    session: Session,
    principal: Principal,
    household: Household,
    person: Person,
    relationship_code: str,
    field_name: str,
) -> None:
    if relationship_code not in RELATIONSHIPS:
        raise invalid(
            field_name,
            f"与户主关系代码“{relationship_code}”不在 GB/T 4761 中",
            "invalid_relationship",
        )
    if person.household_id is not None:
        raise Conflict(
            detail=f"{person.name}已属户{person.household_id}，须先移出原户",
            code="already_in_household",
        )
    if person.hukou_region_code != household.region_code:
        raise invalid("person_id", "此人户籍地与户所在村不一致", "household_mismatch")
    if relationship_code == HEAD_OF_HOUSEHOLD and session.scalar(
        select(Person.id).where(
            Person.household_id == household.id, Person.relationship_code == HEAD_OF_HOUSEHOLD
        )
    ):
        raise Conflict(detail=f"户{household.household_number}已有户主", code="head_exists")
    applied = {
        "household": (None, household.household_number),
        "relationship_code": (person.relationship_code, relationship_code),
    }
    person.household_id = household.id
    person.household = household
    person.relationship_code = relationship_code
    person.updated_at = utcnow()
    _flush_person(session, person)
    _history(session, principal, person, applied, "加入户")
    session.expire(household, ["members"])
    _audit(
        principal,
        session,
        "household.member.add",
        "household",
        household.id,
        person_id=person.id,
        relationship_code=relationship_code,
    )


def add_member(
    *,
    session: Session,
    principal: Principal,
    household_id: int,
    person_id: int,
    relationship_code: str,
) -> Household:
    """Add a person of the same village to a household, with their relationship to the head."""
    household = get_household(session=session, principal=principal, household_id=household_id)
    person = get_person(session=session, principal=principal, person_id=person_id)
    _join_household(session, principal, household, person, relationship_code, "relationship_code")
    return household


def remove_member(
    *, session: Session, principal: Principal, household_id: int, person_id: int
) -> Household:
    """Take a person out of a household (the person stays registered)."""
    household = get_household(session=session, principal=principal, household_id=household_id)
    person = get_person(session=session, principal=principal, person_id=person_id)
    if person.household_id != household.id:
        raise NotFound(
            detail=f"户{household.household_number}中没有人员{person_id}", code="member_not_found"
        )
    applied = {
        "household": (household.household_number, None),
        "relationship_code": (person.relationship_code, None),
    }
    person.household_id = None
    person.household = None
    person.relationship_code = None
    person.updated_at = utcnow()
    _flush_person(session, person)
    _history(session, principal, person, applied, "移出户")
    session.expire(household, ["members"])
    _audit(
        principal,
        session,
        "household.member.remove",
        "household",
        household.id,
        person_id=person.id,
    )
    return household
