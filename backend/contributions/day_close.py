"""End of day at a counter office (日结): what each clerk took in cash, the reversals, the
receipts issued and voided, the cash to deposit; signed off by the office's reviewer.

A signed day is closed: ``ensure_open`` refuses any collection or reversal of the office
dated into it (``collect`` and ``reverse_collection`` call it). Both take the office row's
lock first, so a collection cannot slip in between the reviewer's totals and the close.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from backend.audit.service import record
from backend.contributions.models import Assessment, Collection, DayClose
from backend.errors import Conflict, NotFound, invalid
from backend.orgs.models import Office, Operator
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.models import Person


class DayKind:
    """What a collection was for, as the summary splits it."""

    CURRENT = "current"  # the year's own contribution
    MAKE_UP = "make_up"  # 补缴 of a past year


@dataclass
class KindTotal:
    """Collections of one kind: how many and how much (fen)."""

    kind: str
    count: int = 0
    amount_fen: int = 0


@dataclass
class ClerkDay:
    """One clerk's drawer for the day: what they took, and the reversals of their takings."""

    operator_id: int
    operator_name: str
    by_kind: list[KindTotal] = field(default_factory=list)
    collections_count: int = 0
    collected_fen: int = 0
    reversals_count: int = 0
    reversed_fen: int = 0  # positive: cash given back
    receipts_issued: int = 0
    receipts_voided: int = 0

    @property
    def deposit_fen(self) -> int:
        """Cash this operator hands over: collected less reversed."""
        return self.collected_fen - self.reversed_fen


@dataclass
class DayLine:
    """One collection or reversal of the day, for the reviewer to check (and reverse)."""

    id: int
    receipt_no: str
    person_id: int
    person_name: str
    year: int
    kind: str
    amount_fen: int
    operator_id: int
    operator_name: str
    reverses_id: int | None
    reversed_by_id: int | None


@dataclass
class DaySummary:
    """An office's day: each operator's cash and the office's totals, closed or not."""

    office_id: int
    office_name: str
    business_date: dt.date
    clerks: list[ClerkDay]
    lines: list[DayLine]
    closed: DayClose | None

    @property
    def collections_count(self) -> int:
        return sum(c.collections_count for c in self.clerks)

    @property
    def collected_fen(self) -> int:
        return sum(c.collected_fen for c in self.clerks)

    @property
    def reversals_count(self) -> int:
        return sum(c.reversals_count for c in self.clerks)

    @property
    def reversed_fen(self) -> int:
        return sum(c.reversed_fen for c in self.clerks)

    @property
    def deposit_fen(self) -> int:
        return self.collected_fen - self.reversed_fen


def _office_of(session: Session, operator_id: int, *, lock: bool = False) -> Office:
    office_id = session.scalar(select(Operator.office_id).where(Operator.id == operator_id))
    if lock:
        # The row lock alone (the office's region is loaded with it otherwise).
        session.execute(select(Office.id).where(Office.id == office_id).with_for_update())
    office = session.get(Office, office_id)
    assert office is not None  # an operator always has an office
    return office


def _closed(session: Session, office_id: int, on: dt.date) -> DayClose | None:
    return session.scalar(
        select(DayClose).where(DayClose.office_id == office_id, DayClose.business_date == on)
    )


def signed_day(
    *, session: Session, principal: Principal, day_close_id: int
) -> tuple[DayClose, Office]:
    """A signed-off day of the operator's own office (another office's is not found)."""
    principal.require(Permission.CONTRIBUTION_READ)
    office = _office_of(session, principal.operator_id)
    close = session.get(DayClose, day_close_id)
    if close is None or close.office_id != office.id:
        raise NotFound(detail=f"没有已签字的日结{day_close_id}", code="fact_not_found")
    return close, office


def ensure_open(*, session: Session, principal: Principal, on: dt.date) -> None:
    """Refuse to date cash of the operator's office into a closed day (lock held to commit)."""
    office = _office_of(session, principal.operator_id, lock=True)
    if _closed(session, office.id, on) is not None:
        raise Conflict(
            detail=f"{on.isoformat()} 已日结签字，不能再办理当日的收款或冲正",
            code="day_closed",
        )


def summary(*, session: Session, principal: Principal, on: dt.date) -> DaySummary:
    """The day of the operator's office: each operator's collections by kind, reversals,
    receipts issued and voided, the cash to deposit; and the sign-off if there is one."""
    principal.require(Permission.CONTRIBUTION_READ)
    office = _office_of(session, principal.operator_id)
    kind = case((Assessment.is_make_up, DayKind.MAKE_UP), else_=DayKind.CURRENT)
    is_reversal = Collection.reverses_id.is_not(None)
    # A reversal is the office's (its reviewer did it) but counts against the drawer of
    # the clerk who took the cash: it is that clerk's receipt voided and cash given back.
    original = aliased(Collection)
    actor, owner = aliased(Operator), aliased(Operator)
    owner_id = func.coalesce(original.operator_id, Collection.operator_id)
    rows = session.execute(
        select(
            owner_id,
            owner.full_name,
            is_reversal.label("reversal"),
            kind.label("kind"),
            func.count(Collection.id),
            func.coalesce(func.sum(Collection.amount_fen), 0),
        )
        .join(actor, actor.id == Collection.operator_id)
        .outerjoin(original, original.id == Collection.reverses_id)
        .join(owner, owner.id == owner_id)
        .join(Assessment, Assessment.id == Collection.assessment_id)
        .where(actor.office_id == office.id, Collection.collected_on == on)
        .group_by(owner_id, owner.full_name, is_reversal, kind)
        .order_by(owner_id)
    ).all()
    clerks: dict[int, ClerkDay] = {}
    for operator_id, name, reversal, day_kind, count, amount in rows:
        clerk = clerks.setdefault(operator_id, ClerkDay(operator_id, name))
        if reversal:
            clerk.reversals_count += count
            clerk.reversed_fen += -int(amount)
            clerk.receipts_voided += count
        else:
            clerk.by_kind.append(KindTotal(day_kind, count, int(amount)))
            clerk.collections_count += count
            clerk.collected_fen += int(amount)
            clerk.receipts_issued += count
    return DaySummary(
        office_id=office.id,
        office_name=office.name,
        business_date=on,
        clerks=list(clerks.values()),
        lines=_lines(session, office.id, on),
        closed=_closed(session, office.id, on),
    )


def _lines(session: Session, office_id: int, on: dt.date) -> list[DayLine]:
    reversal = aliased(Collection)
    kind = case((Assessment.is_make_up, DayKind.MAKE_UP), else_=DayKind.CURRENT)
    rows = session.execute(
        select(
            Collection,
            Assessment.person_id,
            Person.name,
            Assessment.year,
            kind,
            Operator.full_name,
            reversal.id,
        )
        .join(Operator, Operator.id == Collection.operator_id)
        .join(Assessment, Assessment.id == Collection.assessment_id)
        .join(Person, Person.id == Assessment.person_id)
        .outerjoin(reversal, reversal.reverses_id == Collection.id)
        .where(Operator.office_id == office_id, Collection.collected_on == on)
        .order_by(Collection.id)
    ).all()
    return [
        DayLine(
            id=c.id,
            receipt_no=c.receipt_no,
            person_id=person_id,
            person_name=name,
            year=year,
            kind=day_kind,
            amount_fen=c.amount_fen,
            operator_id=c.operator_id or 0,
            operator_name=operator_name,
            reverses_id=c.reverses_id,
            reversed_by_id=reversed_by,
        )
        for c, person_id, name, year, day_kind, operator_name, reversed_by in rows
    ]


def sign_off(
    *, session: Session, principal: Principal, on: dt.date, today: dt.date | None = None
) -> DaySummary:
    """The office's reviewer signs the day off: its totals are kept and the day is closed."""
    principal.require(Permission.DAY_CLOSE_SIGN)
    today = today or dt.date.today()
    if on > today:
        raise invalid("business_date", "不能为未来的日期日结", "future_date")
    office = _office_of(session, principal.operator_id, lock=True)
    if _closed(session, office.id, on) is not None:
        raise Conflict(detail=f"{on.isoformat()} 已日结签字", code="day_already_closed")
    day = summary(session=session, principal=principal, on=on)
    close = DayClose(
        office_id=office.id,
        business_date=on,
        collections_count=day.collections_count,
        collected_fen=day.collected_fen,
        reversals_count=day.reversals_count,
        reversed_fen=day.reversed_fen,
        deposit_fen=day.deposit_fen,
        signed_by=principal.operator_id,
    )
    session.add(close)
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="contribution.day_close",
        object_type="day_close",
        object_id=close.id,
        detail={
            "office_id": office.id,
            "business_date": on.isoformat(),
            "collections_count": close.collections_count,
            "collected_fen": close.collected_fen,
            "reversals_count": close.reversals_count,
            "reversed_fen": close.reversed_fen,
            "deposit_fen": close.deposit_fen,
        },
    )
    day.closed = close
    return day
