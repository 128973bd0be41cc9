"""The demo's social security cards: a few named residents and pensioners of 和布克赛尔镇
get cards through the whole lifecycle, as the counter and the card centre would.

Applied at the counter (叶尔兰·努尔兰, clerk_hbk), collected into a batch, sent to the
factory and returned by the card centre (制卡中心, card_centre), personalised on blank
chips with the script from the backend's key vault (the public DEMO keys, created for the
demo only), checked by the card's answer to the vault's challenge, issued against the
holder's ID number and activated. The chips are virtual cards (``card_services``): the
caller (``xnb demo``) puts them in a card deck that ``xnb card insert`` controls, with an
ID card deck of the same people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.benefits.models import Pension
from backend.benefits.service import PensionStatus
from backend.cards import personalisation, production
from backend.cards import service as cards
from backend.cards.lifecycle import CardAction
from backend.contributions.demo import DEMO_BANK
from backend.db import unit_of_work
from backend.demo_pensions import principal
from backend.keys.vault import KeyVault
from backend.registry.models import Enrolment, Person
from card_services import CardClient, VirtualCard, commands, read_basic_data
from card_services.apdu import CommandApdu
from card_services.demo import demo_blank_card
from card_services.virtual_card import CardState

#: The township whose clerk (clerk_hbk) the demo's counter agent serves.
TOWNSHIP = "654226100"


@dataclass(frozen=True)
class DemoCard:
    """One demo card holder: the deck label, who they are, their card and chip."""

    label: str
    role: str  # 养老金领取人 / 参保缴费人
    person_id: int
    card_id: int
    name: str
    gender: str
    ethnicity: str
    birth_date: dt.date
    address: str
    id_number: str
    card_number: str
    chip: CardState


def _holders(session: Session, pensioners: int, payers: int) -> list[tuple[str, Person]]:
    receiving = session.scalars(
        select(Person)
        .join(Pension, Pension.person_id == Person.id)
        .where(
            Pension.status == PensionStatus.RECEIVING,
            Person.hukou_region_code.startswith(TOWNSHIP),
        )
        .order_by(Person.id)
        .limit(pensioners)
    ).all()
    paying = session.scalars(
        select(Person)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(
            Enrolment.status == "paying",
            Enrolment.ended_on.is_(None),
            Person.hukou_region_code.startswith(TOWNSHIP),
        )
        .order_by(Person.id)
        .limit(payers)
    ).all()
    return [("养老金领取人", p) for p in receiving] + [("参保缴费人", p) for p in paying]


def _return_file(batch_number: str, rows: list[tuple[int, str, str, str]]) -> str:
    lines = [f"H|{batch_number}|{len(rows)}"]
    lines += [f"D|{card_id}|{number}|{code}|{atr}" for card_id, number, code, atr in rows]
    body = "".join(f"{line}\n" for line in lines)
    return body + f"T|{len(rows)}|{hashlib.sha256(body.encode()).hexdigest()}\n"


def issue_demo_cards(
    *, factory: sessionmaker[Session], vault: KeyVault, pensioners: int = 2, payers: int = 2
) -> list[DemoCard]:
    """Cards for the first pensioners and paying residents of the township, issued and active."""
    with unit_of_work(factory) as session:
        clerk = principal(session, "clerk_hbk")
        centre = principal(session, "card_centre")
        holders = _holders(session, pensioners, payers)
        applied = [
            (role, person, cards.apply(
                session=session, principal=clerk, person_id=person.id, generation=3,
                bank_code=DEMO_BANK,
            ))
            for role, person in holders
        ]  # fmt: skip
        batch = production.collect(session=session, principal=centre, region_prefix=TOWNSHIP)
        production.export(session=session, principal=centre, batch_id=batch.id)
        chips: dict[int, VirtualCard] = {}
        rows = []
        for serial, (_, _, card) in enumerate(applied, start=101):
            state = demo_blank_card(label=f"chip-{serial}", generation=3, serial=serial)
            blank = VirtualCard(state)
            chips[card.id] = blank
            code = f"{TOWNSHIP[:6]}{serial:026d}"
            rows.append((card.id, f"D{serial:08d}", code, blank.atr.hex().upper()))
        production.import_return(
            session=session,
            principal=centre,
            batch_id=batch.id,
            content=_return_file(batch.batch_number, rows),
        )
        made = []
        numbers = {"养老金领取人": 0, "参保缴费人": 0}
        for role, person, card in applied:
            chip = chips[card.id]
            script = personalisation.script(
                session=session, principal=centre, vault=vault, card_id=card.id, atr=chip.atr
            )
            client = CardClient(chip)
            for command in script.commands:
                client.send(CommandApdu.from_bytes(bytes.fromhex(command)))
            basic = read_basic_data(chip)
            random = bytes.fromhex(script.challenge.challenge)
            answer = client.send(commands.internal_authenticate(random)).data
            result = personalisation.report_result(
                session=session,
                principal=centre,
                vault=vault,
                card_id=card.id,
                challenge_id=script.challenge.id,
                cryptogram=answer,
                identification_code=basic.identification_code.hex().upper(),
                card_number=basic.card_number,
                station_error=None,
            )
            assert result.verified, result.problems
            cards.perform(
                session=session,
                principal=clerk,
                card_id=card.id,
                action=CardAction.ISSUE,
                id_number=person.id_number,
            )
            cards.perform(
                session=session, principal=clerk, card_id=card.id, action=CardAction.ACTIVATE
            )
            numbers[role] += 1
            kind = "pensioner" if role == "养老金领取人" else "resident"
            label = f"{kind}-{numbers[role]}"
            chip.state.label = label
            chip.reset()
            made.append(
                DemoCard(
                    label=label,
                    role=role,
                    person_id=person.id,
                    card_id=card.id,
                    name=person.name,
                    gender=person.gender,
                    ethnicity=person.ethnicity,
                    birth_date=person.birth_date,
                    address=person.address
                    or (person.household.address if person.household else None)
                    or "新疆和布克赛尔蒙古自治县和布克赛尔镇",
                    id_number=person.id_number,
                    card_number=basic.card_number,
                    chip=chip.state,
                )
            )
    return made
