"""The card lifecycle: applications and every transition, scoped, checked and audited.

Every change goes through :func:`move`, which looks the action up in the transition
table, refuses what the table does not allow (409 naming both states) and writes the
card's history and the audit record in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Label, SQLColumnExpression, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from backend.audit.service import Actor, record
from backend.cards.lifecycle import (
    ACTION_LABELS,
    STATE_LABELS,
    TRANSITIONS,
    CancelReason,
    CardAction,
    CardState,
    actions_from,
    effective_state,
)
from backend.cards.models import Card, CardEvent
from backend.cards.policy import policy_on
from backend.db import utcnow
from backend.errors import Conflict, NotFound, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person
from backend.registry.service import get_person


def _not_found(card_id: object, *, exists: bool) -> NotFound:
    return NotFound(detail=f"社保卡{card_id}不存在", code="card_not_found", audit_refusal=exists)


def get_card(*, session: Session, principal: Principal, card_id: int) -> Card:
    """One card of the operator's scope; outside it, ``NotFound`` (the refusal audited)."""
    principal.require(Permission.CARD_READ)
    card = session.get(Card, card_id)
    if card is None or not principal.scope.covers(card.region_code):
        raise _not_found(card_id, exists=card is not None)
    return card


def list_cards(
    *,
    session: Session,
    principal: Principal,
    person_id: int | None = None,
    state: CardState | None = None,
    batch_id: int | None = None,
    card_number: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Card]]:
    """Cards of the scope, newest first, filtered."""
    principal.require(Permission.CARD_READ)
    query = select(Card).where(Card.region_code.startswith(principal.scope.prefix))
    if person_id is not None:
        query = query.where(Card.person_id == person_id)
    if state is not None:
        query = query.where(Card.state == state.value)
    if batch_id is not None:
        query = query.where(Card.batch_id == batch_id)
    if card_number is not None:
        query = query.where(Card.card_number == card_number)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Card.id.desc()).offset(offset).limit(limit)).all()
    return total, list(page)


def _live_card(session: Session, person_id: int) -> Card | None:
    return session.scalar(
        select(Card).where(
            Card.person_id == person_id,
            Card.state.not_in(
                [CardState.REPLACED.value, CardState.CANCELLED.value, CardState.SPOILED.value]
            ),
        )
    )


def _card_exists(session: Session, person: Person) -> Conflict:
    live = _live_card(session, person.id)
    label = STATE_LABELS[CardState(live.state)] if live else "未知"
    return Conflict(
        detail=f"{person.name}（{person.id_number}）已有一张状态为“{label}”的社保卡，不能再申领",
        code="card_exists",
        extra={"card_id": live.id if live else None},
    )


def _insert_card(session: Session, card: Card, person: Person) -> Card:
    try:
        with session.begin_nested():
            session.add(card)
            session.flush()
    except IntegrityError as exc:  # a concurrent application won the partial unique index
        raise _card_exists(session, person) from exc
    return card


def apply(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    generation: int,
    bank_code: str,
) -> Card:
    """A resident applies for a card (申领); one live card per person."""
    principal.require(Permission.CARD_COUNTER)
    person = get_person(session=session, principal=principal, person_id=person_id)
    if _live_card(session, person.id) is not None:
        raise _card_exists(session, person)
    card = _insert_card(
        session,
        Card(
            person_id=person.id,
            social_security_number=person.id_number,
            generation=generation,
            region_code=person.hukou_region_code,
            county_code=person.county_code,
            bank_code=bank_code,
            state=CardState.APPLIED.value,
        ),
        person,
    )
    _history(session, card, "apply", None, CardState.APPLIED, principal.operator_id)
    record(
        session=session,
        actor=principal.actor,
        action="card.apply",
        object_type="card",
        object_id=card.id,
        detail={"person_id": person.id, "generation": generation, "bank_code": bank_code},
    )
    return card


def _history(
    session: Session,
    card: Card,
    action: str,
    from_state: CardState | None,
    to_state: CardState,
    operator_id: int | None,
    reason: str | None = None,
) -> None:
    session.add(
        CardEvent(
            card_id=card.id,
            action=action,
            from_state=from_state.value if from_state else None,
            to_state=to_state.value,
            reason=reason,
            operator_id=operator_id,
            at=utcnow(),
        )
    )


def _refuse(card: Card, action: CardAction, current: CardState) -> Conflict:
    allowed = actions_from(current)
    options = "、".join(ACTION_LABELS[a] for a in allowed) or "无（最终状态）"
    target = TRANSITIONS[action].to_state
    return Conflict(
        detail=(
            f"社保卡{card.card_number or card.id}状态为“{STATE_LABELS[current]}”，"
            f"不能{ACTION_LABELS[action]}（变为“{STATE_LABELS[target]}”）；可办理：{options}"
        ),
        code="invalid_transition",
        extra={
            "from": current.value,
            "to": target.value,
            "action": action.value,
            "allowed": [a.value for a in allowed],
        },
    )


def lapse_temporary_loss(*, session: Session, card: Card, today: dt.date) -> None:
    """Record that an oral loss report ran out, so the history shows when the card came back."""
    current = CardState(card.state)
    now = effective_state(current, loss_expires_on=card.loss_expires_on, today=today)
    if now is not current:
        card.state = now.value
        card.loss_reported_on = card.loss_expires_on = None
        card.updated_at = utcnow()
        _history(
            session, card, CardAction.LOSS_EXPIRED.value, current, now, None, "口头挂失到期自动解除"
        )


def move(
    *,
    session: Session,
    card: Card,
    action: CardAction,
    actor: Actor,
    operator_id: int | None,
    today: dt.date,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> CardState:
    """Take one action on a (locked) card along the table; return the state it left."""
    lapse_temporary_loss(session=session, card=card, today=today)
    current = CardState(card.state)
    transition = TRANSITIONS[action]
    if current not in transition.from_states:
        raise _refuse(card, action, current)
    card.state = transition.to_state.value
    card.updated_at = utcnow()
    _history(session, card, action.value, current, transition.to_state, operator_id, reason)
    record(
        session=session,
        actor=actor,
        action=f"card.{action.value}",
        object_type="card",
        object_id=card.id,
        detail={"state": [current.value, transition.to_state.value], "reason": reason}
        | (detail or {}),
    )
    session.flush()
    return current


def lock(*, session: Session, card: Card) -> Card:
    """Re-read the card under a row lock (PostgreSQL) before changing it."""
    session.refresh(card, with_for_update=True)
    return card


@dataclass(frozen=True)
class ActionResult:
    """The card acted on and, for a replacement, the new card."""

    card: Card
    replacement: Card | None = None


def perform(
    *,
    session: Session,
    principal: Principal,
    card_id: int,
    action: CardAction,
    reason: str | None = None,
    id_number: str | None = None,
    cancel_reason: CancelReason | None = None,
    died_on: dt.date | None = None,
    today: dt.date | None = None,
) -> ActionResult:
    """One counter or card-centre action on a card of the scope."""
    today = today or dt.date.today()
    card = lock(
        session=session, card=get_card(session=session, principal=principal, card_id=card_id)
    )
    permission = TRANSITIONS[action].permission
    if permission is None:
        raise invalid("action", f"“{ACTION_LABELS[action]}”只能由系统执行", "system_only")
    principal.require(permission)
    detail: dict[str, Any] = {}
    if action is CardAction.ISSUE:
        _check_identity(session, card, id_number)
        if card.expiry_date is not None and card.expiry_date < today:
            raise Conflict(detail="社保卡已过有效期，不能发放", code="card_expired")
    if action is CardAction.CANCEL:
        if cancel_reason is None:
            raise invalid("cancel_reason", "注销须说明原因", "required")
        if cancel_reason is CancelReason.DEATH and died_on is None:
            raise invalid("died_on", "因死亡注销须填写死亡日期", "required")
        detail["cancel_reason"] = cancel_reason.value
    move(
        session=session,
        card=card,
        action=action,
        actor=principal.actor,
        operator_id=principal.operator_id,
        today=today,
        reason=reason,
        detail=detail,
    )
    if action is CardAction.REPORT_TEMPORARY_LOSS:
        card.loss_reported_on = today
        card.loss_expires_on = today + dt.timedelta(days=policy_on(today).temporary_loss_days)
    elif action in (CardAction.REPORT_LOSS, CardAction.UNBLOCK):
        card.loss_reported_on = today if action is CardAction.REPORT_LOSS else None
        card.loss_expires_on = None
    elif action is CardAction.CANCEL:
        card.cancel_reason = cancel_reason.value if cancel_reason else None
        card.holder_died_on = died_on
    replacement = None
    if action is CardAction.REPLACE:
        person = session.get(Person, card.person_id)
        assert person is not None  # a card's person row cannot be deleted (foreign key)
        replacement = _insert_card(
            session,
            Card(
                person_id=card.person_id,
                social_security_number=card.social_security_number,
                generation=card.generation,
                region_code=card.region_code,
                county_code=card.county_code,
                bank_code=card.bank_code,
                state=CardState.APPLIED.value,
                replaces_card_id=card.id,
            ),
            person,
        )
        _history(
            session, replacement, "apply", None, CardState.APPLIED, principal.operator_id, reason
        )
        record(
            session=session,
            actor=principal.actor,
            action="card.apply",
            object_type="card",
            object_id=replacement.id,
            detail={"replaces_card_id": card.id},
        )
    session.flush()
    return ActionResult(card=card, replacement=replacement)


def _check_identity(session: Session, card: Card, id_number: str | None) -> None:
    # Issuance hands the card over only after the counter has read the holder's ID card.
    if not id_number:
        raise invalid("id_number", "发卡前须核验持卡人身份证", "required")
    person = session.get(Person, card.person_id)
    if person is None or person.id_number != id_number.upper():
        raise invalid("id_number", "身份证号码与持卡人不符", "id_mismatch")


class HolderStanding(StrEnum):
    """What the registry knows about the card holder, as far as paying out goes."""

    OK = "ok"
    DEAD = "dead"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


def _holder_flags(
    person_id: SQLColumnExpression[int],
) -> tuple[Label[bool], Label[bool], Label[bool]]:
    """Death recorded on any of the person's cards; an enrolment neither terminated nor
    suspended; a suspended one. As correlatable EXISTS, so a caller can fetch the card and
    its holder's standing in one statement."""
    other_card = aliased(Card)
    return (
        exists()
        .where(other_card.person_id == person_id, other_card.holder_died_on.is_not(None))
        .label("died"),
        exists()
        .where(
            Enrolment.person_id == person_id,
            Enrolment.status.not_in(
                [EnrolmentStatus.TERMINATED.value, EnrolmentStatus.SUSPENDED.value]
            ),
        )
        .label("enrolled"),
        exists()
        .where(
            Enrolment.person_id == person_id,
            Enrolment.status == EnrolmentStatus.SUSPENDED.value,
        )
        .label("suspended"),
    )


# Built once: constructing the EXISTS clauses and their cache key costs more Python time
# than the rest of a bank payout check.
_HOLDER_STANDING = select(*_holder_flags(bindparam("person_id")))
_BANK_CARD = select(Card, *_holder_flags(Card.person_id)).where(
    Card.card_number == bindparam("card_number"), Card.bank_code == bindparam("bank_code")
)


def _standing(died: bool, enrolled: bool, suspended: bool) -> HolderStanding:
    if died:
        return HolderStanding.DEAD
    if enrolled:
        return HolderStanding.OK
    return HolderStanding.SUSPENDED if suspended else HolderStanding.UNKNOWN


def holder_standing(*, session: Session, card: Card) -> HolderStanding:
    """Dead (a death recorded on any of the person's cards), suspended, unknown, or fine."""
    died, enrolled, suspended = session.execute(
        _HOLDER_STANDING, {"person_id": card.person_id}
    ).one()
    return _standing(died, enrolled, suspended)


def bank_card(
    *, session: Session, card_number: str, bank_code: str
) -> tuple[Card, HolderStanding] | None:
    """The bank's own card by number with its holder's standing, in one query (the payout
    check is on the banks' hot path); another bank's card looks like none."""
    row = session.execute(
        _BANK_CARD, {"card_number": card_number, "bank_code": bank_code}
    ).one_or_none()
    if row is None:
        return None
    card, died, enrolled, suspended = row
    return card, _standing(died, enrolled, suspended)


class Unusable(StrEnum):
    """Why a card may not be used (bank payouts and online authentication share them)."""

    CARD_LOST = "card_lost"
    CARD_REPLACED = "card_replaced"
    CARD_CANCELLED = "card_cancelled"
    CARD_EXPIRED = "card_expired"
    CARD_NOT_ACTIVE = "card_not_active"
    HOLDER_DEAD = "holder_dead"
    HOLDER_SUSPENDED = "holder_suspended"
    HOLDER_UNKNOWN = "holder_unknown"


UNUSABLE_LABELS: dict[Unusable, str] = {
    Unusable.CARD_LOST: "卡已挂失",
    Unusable.CARD_REPLACED: "卡已补换，旧卡作废",
    Unusable.CARD_CANCELLED: "卡已注销",
    Unusable.CARD_EXPIRED: "卡已过有效期",
    Unusable.CARD_NOT_ACTIVE: "卡未启用",
    Unusable.HOLDER_DEAD: "持卡人已死亡",
    Unusable.HOLDER_SUSPENDED: "持卡人待遇或参保已暂停",
    Unusable.HOLDER_UNKNOWN: "持卡人未参保或已终止参保",
}

_STATE_REFUSALS = {
    CardState.TEMPORARY_LOSS: Unusable.CARD_LOST,
    CardState.LOST: Unusable.CARD_LOST,
    CardState.REPLACED: Unusable.CARD_REPLACED,
    CardState.CANCELLED: Unusable.CARD_CANCELLED,
}


def why_unusable(
    *, session: Session, card: Card, today: dt.date, standing: HolderStanding | None = None
) -> Unusable | None:
    """The first reason the card may not be used today, or ``None`` when it may; the
    holder's ``standing`` is looked up unless the caller already has it."""
    if card.holder_died_on is not None:
        return Unusable.HOLDER_DEAD
    state = effective_state(
        CardState(card.state), loss_expires_on=card.loss_expires_on, today=today
    )
    if state in _STATE_REFUSALS:
        return _STATE_REFUSALS[state]
    if state is not CardState.ACTIVE:
        return Unusable.CARD_NOT_ACTIVE
    if card.expiry_date is not None and card.expiry_date < today:
        return Unusable.CARD_EXPIRED
    if standing is None:
        standing = holder_standing(session=session, card=card)
    return {
        HolderStanding.DEAD: Unusable.HOLDER_DEAD,
        HolderStanding.SUSPENDED: Unusable.HOLDER_SUSPENDED,
        HolderStanding.UNKNOWN: Unusable.HOLDER_UNKNOWN,
    }.get(standing)
