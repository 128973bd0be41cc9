"""Helpers shared by the card tests: a card-centre operator, residents, cards in any state."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.cards.models import Card
from backend.db import unit_of_work
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.registry.models import Enrolment, Person
from tests.backend.registry_support import HBK_VILLAGE, new_id_number
from tests.conftest import PASSWORD, World

BANK = "ABC-XJ"
OTHER_BANK = "ICBC-XJ"
_serial = itertools.count(1000)


def add_card_centre(world: World, session_factory: sessionmaker[Session]) -> str:
    """A card-centre operator at the province office; returns the user name."""
    with unit_of_work(session_factory) as s:
        op = orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="card_centre",
            full_name="制卡中心",
            role=Role.CARD_CENTRE,
            office_id=world.offices["province"].id,
            password=PASSWORD,
        )
        world.operator_ids["card_centre"] = op.id
    return "card_centre"


def add_person(
    session_factory: sessionmaker[Session],
    *,
    village: str = HBK_VILLAGE,
    enrolment: str | None = "receiving",
    birth: dt.date = dt.date(1950, 3, 1),
) -> int:
    """A resident (enrolled with ``enrolment`` status unless None); returns the person id."""
    with unit_of_work(session_factory) as s:
        person = Person(
            id_number=new_id_number(birth),
            name="巴特尔",
            gender="1",
            ethnicity="02",
            birth_date=birth,
            hukou_region_code=village,
            county_code=village[:6],
        )
        s.add(person)
        s.flush()
        if enrolment:
            s.add(
                Enrolment(
                    person_id=person.id,
                    region_code=village,
                    county_code=village[:6],
                    status=enrolment,
                    enrolled_on=dt.date(2012, 1, 1),
                )
            )
        return person.id


def add_card(
    session_factory: sessionmaker[Session],
    person_id: int,
    *,
    state: str,
    generation: int = 3,
    bank_code: str = BANK,
    **fields: Any,
) -> Card:
    """A card in ``state`` (with a card number and identification code once produced)."""
    serial = next(_serial)
    with unit_of_work(session_factory) as s:
        person = s.get(Person, person_id)
        assert person is not None
        values: dict[str, Any] = {
            "card_number": f"X{serial:08d}",
            "identification_code": ("654226" + f"{serial:026d}"),
            "key_version": 1,
            "issue_date": dt.date(2024, 1, 1),
            "expiry_date": dt.date(2034, 1, 1),
        }
        if state in ("applied", "in_production"):
            values = {}
        values.update(fields)
        card = Card(
            person_id=person_id,
            social_security_number=person.id_number,
            generation=generation,
            region_code=person.hukou_region_code,
            county_code=person.county_code,
            bank_code=bank_code,
            state=state,
            **values,
        )
        s.add(card)
        s.flush()
        return card


def id_number_of(session_factory: sessionmaker[Session], person_id: int) -> str:
    """The ID number of a person."""
    with session_factory() as s:
        person = s.get(Person, person_id)
        assert person is not None
        return person.id_number
