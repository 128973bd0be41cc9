"""Enrolment where the household register is, and its status transitions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.errors import Conflict, FieldError, InvalidInput, invalid
from backend.orgs.models import Region
from backend.orgs.service import Principal, get_in_scope
from backend.registry.codes import ENROLMENT_STATUS_LABELS, EnrolmentStatus
from backend.registry.eligibility import RuleBook, age_on, check_eligibility, load_rules
from backend.registry.models import Enrolment, EnrolmentEvent, Person
from backend.registry.service._common import _audit, get_person

_S = EnrolmentStatus
# Which status an enrolment may move to from each status. Leaving SUSPENDED is further
# limited to the status held before the suspension (see ``allowed_transitions``).
TRANSITIONS: dict[EnrolmentStatus, frozenset[EnrolmentStatus]] = {
    _S.PAYING: frozenset({_S.SUSPENDED, _S.RECEIVING, _S.TERMINATED}),
    _S.SUSPENDED: frozenset({_S.PAYING, _S.RECEIVING, _S.TERMINATED}),
    _S.RECEIVING: frozenset({_S.SUSPENDED, _S.TERMINATED}),
    _S.TERMINATED: frozenset(),
}


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
    return get_in_scope(
        session=session,
        principal=principal,
        model=Enrolment,
        object_id=enrolment_id,
        region_of=lambda found: found.region_code,
        detail=f"参保登记{enrolment_id}不存在",
        code="enrolment_not_found",
    )


def list_enrolments(
    *,
    session: Session,
    principal: Principal,
    status: EnrolmentStatus | None = None,
    region_prefix: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Enrolment]]:
    """Enrolments registered in the scope, optionally by status and region, oldest first."""
    query = select(Enrolment).where(Enrolment.region_code.startswith(principal.scope.prefix))
    if status is not None:
        query = query.where(Enrolment.status == status.value)
    if region_prefix:
        query = query.where(Enrolment.region_code.startswith(region_prefix))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Enrolment.id).offset(offset).limit(limit)).all()
    return total, list(page)


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
