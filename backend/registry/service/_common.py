"""Helpers every registry subject shares: the scoped person loader, value forms, checks, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend.audit.reads import record_person_read
from backend.audit.service import record
from backend.errors import Conflict, FieldError, invalid
from backend.keys.fields import lookup
from backend.orgs.models import Region
from backend.orgs.service import Principal, get_in_scope
from backend.registry.models import Person
from receipts import mask_id_number


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


def get_person(*, session: Session, principal: Principal, person_id: int) -> Person:
    """One person of the operator's scope; outside it, ``NotFound`` (and the refusal audited)."""
    return get_in_scope(
        session=session,
        principal=principal,
        model=Person,
        object_id=person_id,
        region_of=lambda found: found.hukou_region_code,
        detail=f"人员{person_id}不存在",
        code="person_not_found",
    )


def read_person(*, session: Session, principal: Principal, person_id: int, via: str) -> Person:
    """``get_person`` for a view that shows the person's data: the read is audited."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    # What the detail shows is loaded first: on PostgreSQL the audit append locks the
    # chain's head until the commit, so it comes last.
    _ = (person.household, person.enrolments, person.changes)
    record_person_read(session=session, actor=principal.actor, person_id=person.id, via=via)
    return person


def _duplicate_person(session: Session, principal: Principal, id_number: str) -> Conflict:
    """409 ``person_exists``: where the person is registered only if the caller may see it."""
    other = session.scalar(
        select(Person).where(Person.id_number_hash == lookup("id_number", id_number))
    )
    region = other.hukou_region_code if other is not None else None
    visible = region is not None and principal.scope.covers(region)
    if region is not None and visible:
        where = f"，户籍地：{_region_label(session, region)}"
    else:
        where = "（在本经办机构辖区以外）" if region is not None else ""
    return Conflict(
        detail=f"身份证号码{mask_id_number(id_number)}已登记{where}",
        code="person_exists",
        fields=[FieldError("id_number", "身份证号码已登记", "duplicate")],
        extra={"region_code": region if visible else None},
    )
