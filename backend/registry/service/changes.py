"""Personal-data changes: ordinary fields at once, ID number and name after a second operator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied, invalid
from backend.keys.fields import lookup
from backend.orgs.service import Principal
from backend.registry.models import Person, PersonChange
from backend.registry.service._common import (
    _as_text,
    _audit,
    _check_village,
    _duplicate_person,
    _flush_person,
    _known_village,
    get_person,
)
from backend.registry.validation import validate_name, validate_person
from national_codes.id_number import IdNumberError, parse_id_number

# Changes of these fields need a second operator (社会保险经办条例 Arts. 37–38). The birth
# date and gender are derived from the ID number, so they change only with it.
REVIEWED_FIELDS = ("id_number", "name")
DIRECT_FIELDS = (
    "ethnicity",
    "hukou_region_code",
    "address",
    "phone",
    "is_student",
    "in_employee_scheme",
    "is_civil_servant",
)
_FLAG_FIELDS = ("is_student", "in_employee_scheme", "is_civil_servant")


class ChangeStatus:
    """States of a ``PersonChange``."""

    APPLIED = "applied"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass
class ChangeOutcome:
    """What a change request did."""

    person: Person
    applied: list[PersonChange] = field(default_factory=list)
    pending: list[PersonChange] = field(default_factory=list)


def _raw_of(person: Person) -> dict[str, str | None]:
    return {
        "id_number": person.id_number,
        "name": person.name,
        "ethnicity": person.ethnicity,
        "hukou_region_code": person.hukou_region_code,
        "address": person.address,
        "phone": person.phone,
        **{f: _as_text(getattr(person, f)) for f in _FLAG_FIELDS},
    }


def change_person(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    changes: Mapping[str, object],
    reason: str | None = None,
    expected_version: int | None = None,
    today: dt.date | None = None,
) -> ChangeOutcome:
    """Apply ordinary changes now; queue ID number and name changes for a reviewer.

    The whole record is re-validated with the changes; a birth date given in
    ``changes`` is only checked against the (new) ID number.
    """
    person = get_person(session=session, principal=principal, person_id=person_id)
    if expected_version is not None and expected_version != person.version:
        raise Conflict(
            detail=f"人员信息已被修改（当前版本{person.version}），请刷新后重试",
            code="stale_version",
            extra={"version": person.version},
        )
    raw = _raw_of(person) | {k: _as_text(v) for k, v in changes.items()}
    data, errors = validate_person(
        raw, known_villages=_known_village(session, raw.get("hukou_region_code")), today=today
    )
    if errors or data is None:
        raise InvalidInput(
            detail="; ".join(f"{e.field}: {e.message}" for e in errors), fields=errors
        )
    applied: dict[str, tuple[str | None, str | None]] = {}
    for name in DIRECT_FIELDS:
        old, new = getattr(person, name), getattr(data, name)
        if name in changes and new != old:
            applied[name] = (_as_text(old), _as_text(new))
    if "hukou_region_code" in applied:
        _check_village(session, principal, "hukou_region_code", data.hukou_region_code)
        if person.household is not None and person.household.region_code != data.hukou_region_code:
            raise invalid(
                "hukou_region_code", "此人仍属原户，须先移出原户再迁移户籍", "in_household"
            )
        person.county_code = data.county_code
    outcome = ChangeOutcome(person=person)
    for name in REVIEWED_FIELDS:
        new = getattr(data, name)
        if name in changes and new != getattr(person, name):
            outcome.pending.append(_request_change(session, principal, person, name, new, reason))
    for name in applied:
        setattr(person, name, getattr(data, name))
    if applied:
        person.updated_at = utcnow()
        _flush_person(session, person)
        outcome.applied = _history(session, principal, person, applied, reason)
        _audit(principal, session, "person.update", "person", person.id, fields=sorted(applied))
    return outcome


def _history(
    session: Session,
    principal: Principal,
    person: Person,
    applied: Mapping[str, tuple[str | None, str | None]],
    reason: str | None,
    *,
    maker_id: int | None = None,
) -> list[PersonChange]:
    """Record applied changes; a reviewed change names its maker and its checker."""
    now = utcnow()
    rows = [
        PersonChange(
            person_id=person.id,
            field=name,
            old_value=old,
            new_value=new,
            reason=reason,
            status=ChangeStatus.APPLIED,
            maker_id=maker_id or principal.operator_id,
            checker_id=principal.operator_id if maker_id else None,
            created_at=now,
            decided_at=now,
        )
        for name, (old, new) in applied.items()
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _request_change(
    session: Session,
    principal: Principal,
    person: Person,
    name: str,
    new_value: str,
    reason: str | None,
) -> PersonChange:
    waiting = session.scalar(
        select(PersonChange.id).where(
            PersonChange.person_id == person.id,
            PersonChange.field == name,
            PersonChange.status == ChangeStatus.PENDING,
        )
    )
    if waiting is not None:
        raise Conflict(
            detail=f"此人的{name}已有待复核的变更（{waiting}），请等待复核结果",
            code="change_pending",
            extra={"change_id": waiting},
        )
    if name == "id_number" and session.scalar(
        select(Person.id).where(
            Person.id_number_hash == lookup("id_number", new_value), Person.id != person.id
        )
    ):
        raise _duplicate_person(session, principal, new_value)
    change = PersonChange(
        person_id=person.id,
        field=name,
        old_value=_as_text(getattr(person, name)),
        new_value=new_value,
        reason=reason,
        status=ChangeStatus.PENDING,
        maker_id=principal.operator_id,
        created_at=utcnow(),
    )
    session.add(change)
    session.flush()
    _audit(
        principal,
        session,
        "person.change.request",
        "person",
        person.id,
        change_id=change.id,
        field=name,
    )
    return change


def list_changes(
    *,
    session: Session,
    principal: Principal,
    status: str = ChangeStatus.PENDING,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[PersonChange]]:
    """Changes of persons in the scope (by default the reviewer's queue), oldest first."""
    query = (
        select(PersonChange)
        .join(Person, Person.id == PersonChange.person_id)
        .where(
            Person.hukou_region_code.startswith(principal.scope.prefix),
            PersonChange.status == status,
        )
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(PersonChange.id).offset(offset).limit(limit))
    return total, list(page)


def _pending_change(
    session: Session, principal: Principal, change_id: int
) -> tuple[PersonChange, Person]:
    change = session.scalar(
        select(PersonChange).where(PersonChange.id == change_id).with_for_update()
    )
    person = session.get(Person, change.person_id) if change else None
    if change is None or person is None or not principal.scope.covers(person.hukou_region_code):
        raise NotFound(
            detail=f"变更申请{change_id}不存在",
            code="change_not_found",
            audit_refusal=change is not None,
        )
    if change.status != ChangeStatus.PENDING:
        raise Conflict(
            detail=f"变更申请{change_id}已处理（{change.status}），不能再次复核",
            code="change_decided",
        )
    if change.maker_id == principal.operator_id:
        raise PermissionDenied(
            detail="不能复核自己提交的变更，须由另一名复核员处理", code="self_review"
        )
    return change, person


def approve_change(
    *, session: Session, principal: Principal, change_id: int, comment: str | None = None
) -> PersonChange:
    """A second operator approves a pending change; it is re-validated and applied."""
    change, person = _pending_change(session, principal, change_id)
    if _as_text(getattr(person, change.field)) != change.old_value:
        raise Conflict(detail="提交变更后此项已被修改，请驳回并重新提交", code="change_outdated")
    new_value = change.new_value or ""
    applied: dict[str, tuple[str | None, str | None]] = {}
    if change.field == "id_number":
        try:
            parsed = parse_id_number(new_value)
        except IdNumberError as exc:
            raise invalid("id_number", str(exc), "invalid_id_number") from exc
        if session.scalar(
            select(Person.id).where(
                Person.id_number_hash == lookup("id_number", parsed.value), Person.id != person.id
            )
        ):
            raise _duplicate_person(session, principal, parsed.value)
        for name, value in (("birth_date", parsed.birth_date), ("gender", parsed.gender)):
            if getattr(person, name) != value:
                applied[name] = (_as_text(getattr(person, name)), _as_text(value))
                setattr(person, name, value)
        person.id_number = parsed.value
    else:
        try:
            person.name = validate_name(new_value)
        except ValueError as exc:
            raise invalid("name", str(exc), "invalid_name") from exc
    person.updated_at = utcnow()
    try:
        with session.begin_nested():
            _flush_person(session, person)
    except IntegrityError as exc:  # the new ID number was registered concurrently
        raise _duplicate_person(session, principal, new_value) from exc
    change.status = ChangeStatus.APPLIED
    change.checker_id = principal.operator_id
    change.decided_at = utcnow()
    _history(session, principal, person, applied, change.reason, maker_id=change.maker_id)
    _audit(
        principal,
        session,
        "person.change.approve",
        "person",
        person.id,
        change_id=change.id,
        field=change.field,
        derived=sorted(applied),
        comment=comment,
    )
    return change


def reject_change(
    *, session: Session, principal: Principal, change_id: int, comment: str | None = None
) -> PersonChange:
    """A second operator rejects a pending change; the person stays as it was."""
    change, person = _pending_change(session, principal, change_id)
    change.status = ChangeStatus.REJECTED
    change.checker_id = principal.operator_id
    change.decided_at = utcnow()
    session.flush()
    _audit(
        principal,
        session,
        "person.change.reject",
        "person",
        person.id,
        change_id=change.id,
        field=change.field,
        comment=comment,
    )
    return change
