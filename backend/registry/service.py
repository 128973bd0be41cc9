"""Persons, households, enrolment and personal-data changes, always inside the operator's scope.

Every function that loads an object checks the principal's region scope; an object
outside it looks exactly like one that does not exist (``NotFound``), and the
refusal is audited. Functions never commit: the request owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend.audit.service import record
from backend.db import utcnow
from backend.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    invalid,
)
from backend.orgs.models import Region
from backend.orgs.service import Principal
from backend.registry.codes import (
    ENROLMENT_STATUS_LABELS,
    RELATIONSHIPS,
    EnrolmentStatus,
)
from backend.registry.eligibility import RuleBook, age_on, check_eligibility, load_rules
from backend.registry.idnumber import IdNumberError, parse_id_number
from backend.registry.models import Enrolment, EnrolmentEvent, Household, Person, PersonChange
from backend.registry.validation import PersonData, validate_name, validate_person

HEAD_OF_HOUSEHOLD = "02"

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


_S = EnrolmentStatus
# Which status an enrolment may move to from each status. Leaving SUSPENDED is further
# limited to the status held before the suspension (see ``allowed_transitions``).
TRANSITIONS: dict[EnrolmentStatus, frozenset[EnrolmentStatus]] = {
    _S.PAYING: frozenset({_S.SUSPENDED, _S.RECEIVING, _S.TERMINATED}),
    _S.SUSPENDED: frozenset({_S.PAYING, _S.RECEIVING, _S.TERMINATED}),
    _S.RECEIVING: frozenset({_S.SUSPENDED, _S.TERMINATED}),
    _S.TERMINATED: frozenset(),
}


# ---- helpers ------------------------------------------------------------------------------


def _as_text(value: object) -> str | None:
    """The form a personal-data value takes in the change history."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _region_label(session: Session, code: str) -> str:
    region = session.get(Region, code)
    return f"{region.name}（{code}）" if region else code


def _check_village(session: Session, principal: Principal, field_name: str, code: str) -> Region:
    region = session.get(Region, code)
    if region is None or region.level != 5:
        raise invalid(field_name, f"区划代码{code}不是已知的村（社区）", "unknown_region")
    if not principal.scope.covers(code):
        raise invalid(field_name, f"{region.name}（{code}）不在本经办机构辖区内", "out_of_scope")
    return region


def _known_village(session: Session, code: str | None) -> set[str]:
    """The set ``validate_person`` checks against: the code itself if it is a village."""
    code = (code or "").strip()
    region = session.get(Region, code) if code else None
    return {code} if region is not None and region.level == 5 else set()


def _flush_person(session: Session, person: Person) -> None:
    """Write the person now, turning a lost optimistic-concurrency race into a 409."""
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            detail=f"人员{person.id}的信息已被他人修改，请刷新后重试", code="stale_version"
        ) from exc


def _audit(
    principal: Principal, session: Session, action: str, obj: str, obj_id: int, **detail: Any
) -> None:
    record(
        session=session,
        actor=principal.actor,
        action=action,
        object_type=obj,
        object_id=obj_id,
        detail=detail,
    )


# ---- persons ------------------------------------------------------------------------------


def get_person(*, session: Session, principal: Principal, person_id: int) -> Person:
    """One person of the operator's scope; outside it, ``NotFound`` (and the refusal audited)."""
    person = session.get(Person, person_id)
    if person is None or not principal.scope.covers(person.hukou_region_code):
        raise NotFound(
            detail=f"人员{person_id}不存在",
            code="person_not_found",
            audit_refusal=person is not None,
        )
    return person


def _duplicate_person(session: Session, id_number: str) -> Conflict:
    other = session.scalar(select(Person).where(Person.id_number == id_number))
    where = _region_label(session, other.hukou_region_code) if other else "其他地区"
    return Conflict(
        detail=f"身份证号码{id_number}已登记，户籍地：{where}",
        code="person_exists",
        fields=[FieldError("id_number", "身份证号码已登记", "duplicate")],
        extra={"region_code": other.hukou_region_code if other else None},
    )


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
        select(Person.id).where(Person.id_number == new_value, Person.id != person.id)
    ):
        raise _duplicate_person(session, new_value)
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
            select(Person.id).where(Person.id_number == parsed.value, Person.id != person.id)
        ):
            raise _duplicate_person(session, parsed.value)
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
        raise _duplicate_person(session, new_value) from exc
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


# ---- enrolment ----------------------------------------------------------------------------


def _active_enrolment(session: Session, person_id: int) -> Enrolment | None:
    return session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == person_id, Enrolment.status != EnrolmentStatus.TERMINATED.value
        )
    )


def _already_enrolled(session: Session, person: Person, enrolment: Enrolment | None) -> Conflict:
    region = session.get(Region, enrolment.region_code) if enrolment else None
    code = enrolment.region_code if enrolment else None
    name = region.name if region else "未知地区"
    return Conflict(
        detail=f"身份证号码{person.id_number}已在{name}（{code}）参保，不能重复参保",
        code="already_enrolled",
        extra={
            "region_code": code,
            "region_name": name,
            "enrolment_id": enrolment.id if enrolment else None,
        },
    )


def enrol(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    enrolled_on: dt.date | None = None,
    rules: RuleBook | None = None,
    today: dt.date | None = None,
) -> Enrolment:
    """Enrol a person of the scope where their household register is, if the rules allow."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    today = today or dt.date.today()
    on_date = enrolled_on or today
    if on_date > today:
        raise invalid("enrolled_on", "参保日期不能晚于今天", "future_date")
    existing = _active_enrolment(session, person.id)
    if existing is not None:
        raise _already_enrolled(session, person, existing)
    reasons = check_eligibility(person, on_date, rules or load_rules())
    if reasons:
        raise InvalidInput(
            detail="不符合参保条件：" + "；".join(r.message for r in reasons),
            code="not_eligible",
            fields=[FieldError(r.field, r.message, r.rule) for r in reasons],
            extra={
                "reasons": [
                    {"rule": r.rule, "message": r.message, "source": r.source} for r in reasons
                ]
            },
        )
    enrolment = Enrolment(
        person_id=person.id,
        region_code=person.hukou_region_code,
        county_code=person.county_code,
        status=EnrolmentStatus.PAYING.value,
        enrolled_on=on_date,
        created_by=principal.operator_id,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(enrolment)
            session.flush()
    except IntegrityError as exc:  # enrolled by a concurrent request since the check
        raise _already_enrolled(session, person, _active_enrolment(session, person.id)) from exc
    _add_event(session, principal, enrolment, EnrolmentStatus.PAYING, on_date, "参保登记")
    _audit(
        principal,
        session,
        "enrolment.create",
        "enrolment",
        enrolment.id,
        person_id=person.id,
        region_code=enrolment.region_code,
        enrolled_on=on_date.isoformat(),
    )
    return enrolment


def _add_event(
    session: Session,
    principal: Principal,
    enrolment: Enrolment,
    status: EnrolmentStatus,
    effective_date: dt.date,
    reason: str | None,
) -> None:
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.id,
            status=status.value,
            effective_date=effective_date,
            reason=reason,
            operator_id=principal.operator_id,
            at=utcnow(),
        )
    )
    session.flush()
    session.refresh(enrolment, ["events"])


def get_enrolment(*, session: Session, principal: Principal, enrolment_id: int) -> Enrolment:
    """One enrolment registered in the scope; outside it, ``NotFound`` (refusal audited)."""
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None or not principal.scope.covers(enrolment.region_code):
        raise NotFound(
            detail=f"参保登记{enrolment_id}不存在",
            code="enrolment_not_found",
            audit_refusal=enrolment is not None,
        )
    return enrolment


def allowed_transitions(enrolment: Enrolment) -> frozenset[EnrolmentStatus]:
    """Statuses the enrolment may move to now; a suspension resumes only what it suspended."""
    current = EnrolmentStatus(enrolment.status)
    allowed = TRANSITIONS[current]
    if current is EnrolmentStatus.SUSPENDED:
        before = [e.status for e in enrolment.events if e.status != EnrolmentStatus.SUSPENDED]
        if before:
            allowed = frozenset({EnrolmentStatus(before[-1]), EnrolmentStatus.TERMINATED})
    return allowed


def change_enrolment_status(
    *,
    session: Session,
    principal: Principal,
    enrolment_id: int,
    status: EnrolmentStatus,
    effective_date: dt.date | None = None,
    reason: str | None = None,
    rules: RuleBook | None = None,
    today: dt.date | None = None,
) -> Enrolment:
    """Move an enrolment along the transition table, with a dated event."""
    enrolment = get_enrolment(session=session, principal=principal, enrolment_id=enrolment_id)
    session.refresh(enrolment, with_for_update=True)
    today = today or dt.date.today()
    on_date = effective_date or today
    current = EnrolmentStatus(enrolment.status)
    allowed = allowed_transitions(enrolment)
    if status not in allowed:
        label = ENROLMENT_STATUS_LABELS
        options = "、".join(label[s] for s in sorted(allowed)) or "无（终止为最终状态）"
        raise Conflict(
            detail=f"参保状态不能从“{label[current]}”变为“{label[status]}”；可变为：{options}",
            code="invalid_transition",
            extra={
                "from": current.value,
                "to": status.value,
                "allowed": sorted(s.value for s in allowed),
            },
        )
    if on_date > today:
        raise invalid("effective_date", "生效日期不能晚于今天", "future_date")
    last = max((e.effective_date for e in enrolment.events), default=enrolment.enrolled_on)
    if on_date < last:
        raise invalid(
            "effective_date", f"生效日期不能早于上一次状态变更的日期{last}", "before_last"
        )
    if status is EnrolmentStatus.RECEIVING:
        person = session.get(Person, enrolment.person_id)
        version = (rules or load_rules()).in_force(on_date)
        if person is not None and version is not None:
            age = age_on(person.birth_date, on_date)
            if age < version.pension_age:
                raise invalid(
                    "effective_date",
                    f"{on_date}时年龄为{age}周岁，未满待遇领取年龄{version.pension_age}周岁",
                    "pension_age",
                )
    enrolment.status = status.value
    if status is EnrolmentStatus.TERMINATED:
        enrolment.ended_on = on_date
    _add_event(session, principal, enrolment, status, on_date, reason)
    _audit(
        principal,
        session,
        "enrolment.status",
        "enrolment",
        enrolment.id,
        person_id=enrolment.person_id,
        status=[current.value, status.value],
        effective_date=on_date.isoformat(),
    )
    return enrolment


# ---- households ---------------------------------------------------------------------------


def get_household(*, session: Session, principal: Principal, household_id: int) -> Household:
    """One household of the scope; outside it, ``NotFound`` (refusal audited)."""
    household = session.get(Household, household_id)
    if household is None or not principal.scope.covers(household.region_code):
        raise NotFound(
            detail=f"户{household_id}不存在",
            code="household_not_found",
            audit_refusal=household is not None,
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
