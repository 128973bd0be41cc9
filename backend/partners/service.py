"""Payout authorisation: may this bank pay out this amount on this card now?

Idempotent by the bank's transaction id (a retry gets the first answer; the same id with
a different request is refused). An approval must be confirmed or voided before it
expires, and resolves exactly once: the state changes by a conditional UPDATE, so of two
racing calls one wins and the other sees the outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.cards.models import Card
from backend.cards.policy import policy_on
from backend.cards.service import UNUSABLE_LABELS, bank_card, why_unusable
from backend.db import is_postgres, utcnow
from backend.errors import Conflict, NotFound
from backend.partners.models import PayoutAuthorisation
from backend.pki.models import BankPartner


class Channel(StrEnum):
    """Where the bank pays out."""

    BRANCH = "branch"  # 网点柜面
    VILLAGE_POINT = "village_point"  # 助农取款点
    ATM = "atm"
    POS = "pos"


DECLINE_LABELS: Final[dict[str, str]] = {
    **{u.value: label for u, label in UNUSABLE_LABELS.items()},
    "card_unknown": "卡号不存在或不是本行的卡",
    "amount_over_limit": "金额超过单笔支付限额",
    "daily_limit_exceeded": "该卡当日累计支付将超过每日限额",
}


@dataclass(frozen=True)
class PayoutRequest:
    """What the bank asks."""

    bank_transaction_id: str
    card_number: str
    amount_fen: int
    channel: Channel
    terminal_id: str

    def sha256(self) -> str:
        """Fingerprint of the request, to spot a transaction id reused for another one."""
        canonical = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


# Insert unless the bank has used the transaction id already. Core statements built once:
# the ORM's insert and statement construction were the largest share of a payout check's
# Python time, and the caller has every value already.
_PAYOUTS = cast(Table, PayoutAuthorisation.__table__)
_INSERT_NEW_POSTGRES = (
    pg_insert(_PAYOUTS)
    .on_conflict_do_nothing(index_elements=["bank_id", "bank_transaction_id"])
    .returning(_PAYOUTS.c.id)
)
_INSERT_NEW_SQLITE = (
    sqlite_insert(_PAYOUTS)
    .on_conflict_do_nothing(index_elements=["bank_id", "bank_transaction_id"])
    .returning(_PAYOUTS.c.id)
)


def _actor(bank: BankPartner) -> Actor:
    return Actor(username=f"bank:{bank.code}", device="bank-api")


def audit_chain(bank: BankPartner) -> str:
    """The bank's own audit chain: its payouts never wait for another bank's or the staff's."""
    return f"bank:{bank.code}"


def authorize(
    *, session: Session, bank: BankPartner, request: PayoutRequest, today: dt.date | None = None
) -> tuple[PayoutAuthorisation, bool]:
    """Approve or decline; return the authorisation and whether it is a repeat.

    On the banks' hot path, so a new authorisation costs two statements before the audit
    record: the card with its holder's standing, and the insert, which a repeated
    transaction id turns into nothing (``ON CONFLICT DO NOTHING``); only a repeat reads the
    first answer back.
    """
    fingerprint = request.sha256()
    today = today or dt.date.today()
    policy = policy_on(today)
    found = bank_card(session=session, card_number=request.card_number, bank_code=bank.code)
    reason: str | None
    if found is None:
        # Another bank's card looks exactly like an unknown one.
        reason = "card_unknown"
    else:
        card, standing = found
        unusable = why_unusable(session=session, card=card, today=today, standing=standing)
        reason = unusable.value if unusable else None
        if reason is None and request.amount_fen > policy.payout_limit_fen:
            reason = "amount_over_limit"
        if reason is None:
            spent = _authorised_today(session, card_id=card.id)
            if spent + request.amount_fen > policy.daily_payout_limit_fen:
                reason = "daily_limit_exceeded"
    now = utcnow()
    values = {
        "authorisation_code": secrets.token_hex(8).upper(),
        "bank_id": bank.id,
        "bank_transaction_id": request.bank_transaction_id,
        "request_sha256": fingerprint,
        "card_id": found[0].id if found else None,
        "card_number": request.card_number,
        "amount_fen": request.amount_fen,
        "channel": request.channel.value,
        "terminal_id": request.terminal_id,
        "decision": "declined" if reason else "approved",
        "reason_code": reason,
        "state": "declined" if reason else "approved",
        "created_at": now,
        "expires_at": now + dt.timedelta(minutes=policy.authorisation_minutes),
    }
    new_id = session.scalar(
        _INSERT_NEW_POSTGRES if is_postgres(session) else _INSERT_NEW_SQLITE, values
    )
    if new_id is None:  # the transaction id was asked before (or at the same time)
        existing = _by_transaction(session, bank, request.bank_transaction_id)
        assert existing is not None
        return _repeat(existing, fingerprint), True
    # The row as inserted; not loaded back, as nothing in this transaction changes it.
    authorisation = PayoutAuthorisation(id=new_id, **values)
    record(
        session=session,
        actor=_actor(bank),
        action="bank.payout_authorize",
        object_type="payout",
        object_id=authorisation.authorisation_code,
        result="ok" if reason is None else "denied",
        detail={
            "transaction": request.bank_transaction_id,
            "card_number": request.card_number,
            "amount_fen": request.amount_fen,
            "reason": reason,
        },
        chain=audit_chain(bank),
    )
    return authorisation, False


#: The payout day is the Beijing calendar day.
_BEIJING = dt.timezone(dt.timedelta(hours=8))


def _authorised_today(session: Session, *, card_id: int) -> int:
    """What banks were authorised to pay out on a card today (Beijing): confirmed payouts
    and approvals still awaiting confirmation. The card row is locked first (PostgreSQL),
    so two payouts on one card are counted one after the other, never both against the
    same remainder of the limit."""
    session.execute(select(Card.id).where(Card.id == card_id).with_for_update())
    now = utcnow()
    start = dt.datetime.combine(now.astimezone(_BEIJING).date(), dt.time(), tzinfo=_BEIJING)
    total = session.scalar(
        select(func.coalesce(func.sum(PayoutAuthorisation.amount_fen), 0)).where(
            PayoutAuthorisation.card_id == card_id,
            PayoutAuthorisation.created_at >= start,
            PayoutAuthorisation.created_at < start + dt.timedelta(days=1),
            or_(
                PayoutAuthorisation.state == "confirmed",
                and_(PayoutAuthorisation.state == "approved", PayoutAuthorisation.expires_at > now),
            ),
        )
    )
    return int(total or 0)


def _by_transaction(
    session: Session, bank: BankPartner, transaction_id: str
) -> PayoutAuthorisation | None:
    return session.scalar(
        select(PayoutAuthorisation).where(
            PayoutAuthorisation.bank_id == bank.id,
            PayoutAuthorisation.bank_transaction_id == transaction_id,
        )
    )


def _repeat(existing: PayoutAuthorisation, fingerprint: str) -> PayoutAuthorisation:
    if existing.request_sha256 != fingerprint:
        raise Conflict(
            detail=f"交易流水号{existing.bank_transaction_id}已用于另一笔不同的请求",
            code="transaction_id_reused",
        )
    return existing


def get(*, session: Session, bank: BankPartner, authorisation_code: str) -> PayoutAuthorisation:
    """One of the bank's own authorisations; another bank's looks like none."""
    found = session.scalar(
        select(PayoutAuthorisation).where(
            PayoutAuthorisation.authorisation_code == authorisation_code,
            PayoutAuthorisation.bank_id == bank.id,
        )
    )
    if found is None:
        raise NotFound(detail=f"授权{authorisation_code}不存在", code="authorisation_not_found")
    return found


def resolve(
    *, session: Session, bank: BankPartner, authorisation_code: str, to_state: str
) -> tuple[PayoutAuthorisation, bool]:
    """Confirm or void an approval, once; the same call again returns the first outcome."""
    authorisation = get(session=session, bank=bank, authorisation_code=authorisation_code)
    now = utcnow()
    changed = session.execute(
        update(PayoutAuthorisation)
        .where(
            PayoutAuthorisation.id == authorisation.id,
            PayoutAuthorisation.state == "approved",
            PayoutAuthorisation.expires_at > now,
        )
        .values(state=to_state, resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(authorisation)
    if changed.rowcount == 1:  # type: ignore[attr-defined]
        record(
            session=session,
            actor=_actor(bank),
            action=f"bank.payout_{to_state}",
            object_type="payout",
            object_id=authorisation.authorisation_code,
            detail={"transaction": authorisation.bank_transaction_id},
            chain=audit_chain(bank),
        )
        return authorisation, False
    if authorisation.state == to_state:
        return authorisation, True
    if authorisation.state == "approved":  # unresolved past its time: expired
        raise Conflict(
            detail=f"授权{authorisation_code}已过期，请重新授权", code="authorisation_expired"
        )
    raise Conflict(
        detail=f"授权{authorisation_code}状态为{authorisation.state}，不能再{_VERB[to_state]}",
        code="authorisation_resolved",
        extra={"state": authorisation.state},
    )


_VERB: Final = {"confirmed": "确认", "voided": "撤销"}
