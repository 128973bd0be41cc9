"""Personalisation at the card centre: the script for one produced card, and its result.

The station reads the blank chip's ATR, asks for the script (EF05/EF06, diversified keys
and the initial PIN, each command MACed by the vault under the chip's transport key),
writes it, reads EF05 back and answers the verification challenge with INTERNAL
AUTHENTICATE. Only a card whose read-back data and answer are right becomes personalised;
any other result spoils it, so it can never be issued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.cards.authentication import PURPOSE_PERSONALISE, new_challenge, spend_challenge
from backend.cards.lifecycle import CardAction, CardState
from backend.cards.models import Card, CardChallenge
from backend.cards.service import get_card, lock, move
from backend.errors import Conflict
from backend.keys.vault import FAMILY_OF_GENERATION, KeyVault, VaultError
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.models import Person
from card_services import BasicCardData, HolderData, PersonalisationData

#: The PIN every new card carries until the holder sets their own at activation.
INITIAL_PIN: Final = "123456"
#: 社会保障卡 card type (an1).
CARD_TYPE: Final = "3"


@dataclass(frozen=True)
class ScriptOut:
    """The APDUs to send, in order, and the challenge that proves the keys afterwards."""

    card: Card
    commands: list[str]
    challenge: CardChallenge


def personalisation_data(card: Card, person: Person) -> PersonalisationData:
    """What goes on the chip: EF05 from the card row, EF06 from the registry."""
    if not (card.identification_code and card.card_number and card.issue_date and card.expiry_date):
        raise Conflict(detail="此卡尚未回盘，没有卡号和卡识别码", code="card_not_produced")
    return PersonalisationData(
        basic=BasicCardData(
            identification_code=bytes.fromhex(card.identification_code),
            card_type=CARD_TYPE,
            spec_version=f"{card.generation}.00",
            initialising_org=card.region_code + "0" * 12,
            issue_date=card.issue_date,
            expiry_date=card.expiry_date,
            card_number=card.card_number,
        ),
        holder=HolderData(
            social_security_number=card.social_security_number,
            name=person.name,
            gender=person.gender,
            ethnicity=person.ethnicity,
            birthplace=person.hukou_region_code[:6],
            birth_date=person.birth_date,
        ),
        initial_pin=INITIAL_PIN,
    )


def script(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    card_id: int,
    atr: bytes,
    today: dt.date | None = None,
) -> ScriptOut:
    """The personalisation script for a produced card in the chip the factory recorded."""
    principal.require(Permission.CARD_PRODUCE)
    card = lock(
        session=session, card=get_card(session=session, principal=principal, card_id=card_id)
    )
    if card.state != CardState.PRODUCED.value:
        raise Conflict(
            detail=f"只有已制卡（回盘）的卡可以个人化，此卡状态为{card.state}",
            code="card_not_produced",
            extra={"state": card.state},
        )
    if card.atr is None or card.atr.upper() != atr.hex().upper():
        raise Conflict(
            detail="读卡器中的芯片不是卡厂为此卡记录的芯片（ATR不符）",
            code="wrong_chip",
            extra={"expected_atr": card.atr, "atr": atr.hex().upper()},
        )
    person = session.get(Person, card.person_id)
    assert person is not None  # a card's person row cannot be deleted (foreign key)
    card.key_version = vault.active_version(FAMILY_OF_GENERATION[card.generation])
    try:
        commands = vault.personalisation_script(
            data=personalisation_data(card, person), atr=atr, key_version=card.key_version
        )
    except VaultError as exc:
        raise Conflict(detail=f"无法生成个人化脚本：{exc}", code="script_failed") from exc
    challenge = new_challenge(
        session=session,
        vault=vault,
        card=card,
        purpose=PURPOSE_PERSONALISE,
        operator_id=principal.operator_id,
        today=today or dt.date.today(),
    )
    # Releasing a script hands out commands MACed under the card's keys: who, for which
    # card and chip, under which key version, is on the record (no key or holder data).
    record(
        session=session,
        actor=principal.actor,
        action="card.personalisation_script",
        object_type="card",
        object_id=card.id,
        detail={
            "atr": atr.hex().upper(),
            "key_version": card.key_version,
            "commands": len(commands.commands),
        },
    )
    return ScriptOut(
        card=card,
        commands=[c.to_bytes().hex().upper() for c in commands.commands],
        challenge=challenge,
    )


@dataclass(frozen=True)
class ResultOut:
    """The card after the station's report, and why it was spoiled (if it was)."""

    card: Card
    verified: bool
    problems: list[str]


def report_result(
    *,
    session: Session,
    principal: Principal,
    vault: KeyVault,
    card_id: int,
    challenge_id: str,
    cryptogram: bytes | None,
    identification_code: str | None,
    card_number: str | None,
    station_error: str | None,
    today: dt.date | None = None,
) -> ResultOut:
    """Personalised when the read-back and the key check agree; spoiled otherwise."""
    principal.require(Permission.CARD_PRODUCE)
    today = today or dt.date.today()
    card = lock(
        session=session, card=get_card(session=session, principal=principal, card_id=card_id)
    )
    challenge, refusal = spend_challenge(
        session=session, challenge_id=challenge_id, purpose=PURPOSE_PERSONALISE
    )
    problems = [station_error] if station_error else []
    if refusal is not None or challenge is None or challenge.card_id != card.id:
        # No valid challenge proves nothing either way: refuse, leave the card as it is.
        raise Conflict(
            detail=refusal.detail if refusal else "挑战数不属于此卡",
            code=refusal.code if refusal else "challenge_unknown",
        )
    if identification_code is None or identification_code.upper() != card.identification_code:
        problems.append("回读的卡识别码与卡数据不符")
    if card_number != card.card_number:
        problems.append("回读的卡号与卡数据不符")
    genuine = cryptogram is not None and vault.verify_internal_authenticate(
        generation=card.generation,
        key_version=card.key_version or 0,
        identification_code=bytes.fromhex(card.identification_code or ""),
        challenge=bytes.fromhex(challenge.challenge),
        cryptogram=cryptogram,
    )
    if not genuine:
        problems.append("内部认证失败：卡内密钥不正确")
    verified = not problems
    move(
        session=session,
        card=card,
        action=CardAction.PERSONALISE if verified else CardAction.SPOIL,
        actor=principal.actor,
        operator_id=principal.operator_id,
        today=today,
        reason=None if verified else "；".join(problems)[:200],
    )
    return ResultOut(card=card, verified=verified, problems=problems)
