"""Online card authentication and the vault's answers for protected card commands.

INTERNAL AUTHENTICATE (is this card genuine?): the terminal reads the card's
identification code, asks for a challenge, lets the card encrypt it, and sends the
answer back. The challenge is single-use and short-lived; the backend derives the card's
key in the vault and checks. Whatever the outcome, the challenge is spent and the attempt
audited, so the outcome is returned, not raised (raising would roll both back).

The reverse direction — EXTERNAL AUTHENTICATE cryptograms and the PIN unblock command on
the card's own challenge — is computed by the vault for cards still in use.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.cards.lifecycle import CardState
from backend.cards.models import Card, CardChallenge
from backend.cards.policy import policy_on
from backend.cards.service import UNUSABLE_LABELS, get_card, why_unusable
from backend.db import utcnow
from backend.errors import Conflict, NotFound, invalid
from backend.keys.vault import KeyVault, VaultError
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.models import Person

PURPOSE_AUTHENTICATE: Final = "authenticate"
PURPOSE_PERSONALISE: Final = "personalise"
#: States in which a card has keys and is still its holder's (the old card of a
#: replacement, a cancelled or a spoiled card can never authenticate again).
KEYED_STATES: Final = frozenset(
    {
        CardState.PERSONALISED,
        CardState.ISSUED,
        CardState.ACTIVE,
        CardState.TEMPORARY_LOSS,
        CardState.LOST,
    }
)


def _card_by_code(session: Session, identification_code: str) -> Card:
    card = session.scalar(select(Card).where(Card.identification_code == identification_code))
    if card is None:
        raise NotFound(detail="此卡识别码不是本省签发的社保卡", code="card_unknown")
    return card


def new_challenge(
    *,
    session: Session,
    vault: KeyVault,
    card: Card,
    purpose: str,
    operator_id: int | None,
    today: dt.date,
) -> CardChallenge:
    """A fresh single-use random for the card, valid for the policy's seconds."""
    now = utcnow()
    challenge = CardChallenge(
        id=secrets.token_hex(16),
        card_id=card.id,
        purpose=purpose,
        challenge=vault.new_challenge(generation=card.generation).hex().upper(),
        operator_id=operator_id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=policy_on(today).challenge_seconds),
    )
    session.add(challenge)
    session.flush()
    return challenge


def issue_challenge(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    identification_code: str,
    today: dt.date | None = None,
) -> CardChallenge:
    """A challenge for the card the terminal has just read."""
    principal.require(Permission.CARD_AUTHENTICATE)
    card = _card_by_code(session, identification_code.upper())
    return new_challenge(
        session=session,
        vault=vault,
        card=card,
        purpose=PURPOSE_AUTHENTICATE,
        operator_id=principal.operator_id,
        today=today or dt.date.today(),
    )


@dataclass(frozen=True)
class Refusal:
    """Why an answer was not accepted: a stable code, HTTP status and words for staff."""

    code: str
    status: int
    detail: str


CHALLENGE_UNKNOWN: Final = Refusal("challenge_unknown", 404, "挑战数不存在")
CHALLENGE_USED: Final = Refusal("challenge_used", 409, "挑战数已使用过：重放的应答被拒绝")
CHALLENGE_EXPIRED: Final = Refusal("challenge_expired", 409, "挑战数已过期，请重新认证")
CARD_NOT_GENUINE: Final = Refusal("card_not_genuine", 422, "卡片认证失败：不是本省签发的真卡")
CARD_NOT_PERSONALISED: Final = Refusal("card_not_personalised", 409, "此卡尚未个人化")


def spend_challenge(
    *, session: Session, challenge_id: str, purpose: str
) -> tuple[CardChallenge | None, Refusal | None]:
    """Use a challenge up: exactly one caller wins, even when two race for it."""
    challenge = session.get(CardChallenge, challenge_id)
    if challenge is None or challenge.purpose != purpose:
        return None, CHALLENGE_UNKNOWN
    now = utcnow()
    spent = session.execute(
        update(CardChallenge)
        .where(CardChallenge.id == challenge_id, CardChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return challenge, CHALLENGE_USED
    if challenge.expires_at <= now:
        return challenge, CHALLENGE_EXPIRED
    return challenge, None


@dataclass(frozen=True)
class AuthenticationOutcome:
    """The answer to one INTERNAL AUTHENTICATE check."""

    refusal: Refusal | None
    card: Card | None
    authentic: bool
    holder: Person | None


def verify_answer(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    challenge_id: str,
    cryptogram: bytes,
    today: dt.date | None = None,
) -> AuthenticationOutcome:
    """Check the card's answer; the holder is shown only inside the operator's scope."""
    principal.require(Permission.CARD_AUTHENTICATE)
    today = today or dt.date.today()
    challenge, refusal = spend_challenge(
        session=session, challenge_id=challenge_id, purpose=PURPOSE_AUTHENTICATE
    )
    card = session.get(Card, challenge.card_id) if challenge else None
    authentic = False
    if refusal is None and card is not None:
        if card.key_version is None:
            refusal = CARD_NOT_PERSONALISED
        else:
            authentic = vault.verify_internal_authenticate(
                generation=card.generation,
                key_version=card.key_version,
                identification_code=bytes.fromhex(card.identification_code or ""),
                challenge=bytes.fromhex(challenge.challenge if challenge else ""),
                cryptogram=cryptogram,
            )
            refusal = None if authentic else CARD_NOT_GENUINE
    if refusal is None and card is not None:
        unusable = why_unusable(session=session, card=card, today=today)
        if unusable is not None:
            refusal = Refusal(unusable.value, 409, UNUSABLE_LABELS[unusable])
    holder = None
    if card is not None and authentic and principal.scope.covers(card.region_code):
        holder = session.get(Person, card.person_id)
    record(
        session=session,
        actor=principal.actor,
        action="card.authenticate",
        object_type="card",
        object_id=card.id if card else None,
        result="ok" if refusal is None else "denied",
        detail={"challenge_id": challenge_id, "code": refusal.code if refusal else "ok"},
    )
    return AuthenticationOutcome(refusal=refusal, card=card, authentic=authentic, holder=holder)


def _keyed(card: Card) -> Card:
    if CardState(card.state) not in KEYED_STATES or card.key_version is None:
        raise Conflict(
            detail=f"此卡状态为“{card.state}”，不能再作安全认证",
            code="card_not_keyed",
            extra={"state": card.state},
        )
    return card


def _keyed_card(session: Session, principal: Principal, card_id: int) -> Card:
    return _keyed(get_card(session=session, principal=principal, card_id=card_id))


def _card_in_scope_by_code(
    session: Session, principal: Principal, identification_code: str
) -> Card:
    card = _card_by_code(session, identification_code.upper())
    # Outside the operator's region a card answers like an unknown one (404, audited).
    return get_card(session=session, principal=principal, card_id=card.id)


def external_authenticate(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    challenge: bytes,
    card_id: int | None = None,
    identification_code: str | None = None,
) -> bytes:
    """The EXTERNAL AUTHENTICATE cryptogram for a card's challenge (protected reads).

    The card is named by its id, or by the identification code a terminal read from its
    EF05 (how a workstation, which holds no card key, reads a generation-3 card).
    """
    principal.require(Permission.CARD_AUTHENTICATE)
    if card_id is not None:
        card = _keyed_card(session, principal, card_id)
    elif identification_code is not None:
        card = _keyed(_card_in_scope_by_code(session, principal, identification_code))
    else:
        raise invalid("identification_code", "须指明卡片", "required")
    try:
        cryptogram = vault.external_authenticate_cryptogram(
            generation=card.generation,
            key_version=card.key_version or 0,
            identification_code=bytes.fromhex(card.identification_code or ""),
            challenge=challenge,
        )
    except VaultError as exc:
        raise invalid("challenge", str(exc), "bad_challenge") from exc
    record(
        session=session,
        actor=principal.actor,
        action="card.external_authenticate",
        object_type="card",
        object_id=card.id,
    )
    return cryptogram


def pin_reset_command(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    card_id: int,
    id_number: str,
    challenge: bytes,
    new_pin: str,
    identification_code: str | None = None,
) -> bytes:
    """The MAC-protected PIN unblock command, after the counter checked the holder's ID.

    With ``identification_code`` (what the terminal read from the card in its reader) the
    card in the reader must be this card, or nothing is computed.
    """
    principal.require(Permission.CARD_COUNTER)
    card = _keyed_card(session, principal, card_id)
    if identification_code is not None and identification_code.upper() != card.identification_code:
        raise Conflict(
            detail="读卡器中的社保卡不是要重置密码的这张卡，请插入本人的卡",
            code="wrong_card",
        )
    person = session.get(Person, card.person_id)
    if person is None or person.id_number != id_number.upper():
        raise invalid("id_number", "身份证号码与持卡人不符", "id_mismatch")
    try:
        command = vault.pin_unblock_command(
            generation=card.generation,
            key_version=card.key_version or 0,
            identification_code=bytes.fromhex(card.identification_code or ""),
            challenge=challenge,
            new_pin=new_pin,
        )
    except VaultError as exc:
        raise invalid("new_pin", str(exc), "bad_pin") from exc
    # The PIN itself is never recorded.
    record(
        session=session,
        actor=principal.actor,
        action="card.pin_reset",
        object_type="card",
        object_id=card.id,
    )
    return command


def record_pin_reset_result(
    *,
    session: Session,
    principal: Principal,
    card_id: int,
    card_answer: str,
    verified: bool,
    entry: str,
) -> None:
    """The terminal's report of the card's answer to the unblock command and of the check
    that the card then accepts the new PIN (VERIFY); audited, the PIN never part of it."""
    principal.require(Permission.CARD_COUNTER)
    card = get_card(session=session, principal=principal, card_id=card_id)
    done = card_answer.upper() == "9000" and verified
    record(
        session=session,
        actor=principal.actor,
        action="card.pin_reset_result",
        object_type="card",
        object_id=card.id,
        result="ok" if done else "failed",
        detail={"card_answer": card_answer.upper(), "verified": verified, "entry": entry},
    )
