"""A small county with residents, contributions over several months, pensions and a payroll."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from backend.audit.service import Actor
from backend.cards.models import CardEvent
from backend.contributions import service as contrib
from backend.db import unit_of_work
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from backend.registry.models import Enrolment, Person
from backend.seed.service import seed_residents
from tests.backend.benefits_support import three_pensioners
from tests.backend.card_support import add_card
from tests.backend.payroll_support import pay_month
from tests.conftest import World

COUNTY = "654226"
# (month, day) of the counter collections, spread over 2026; the third is reversed.
COLLECTION_DAYS = ((3, 2), (3, 20), (4, 8), (5, 15), (6, 3), (6, 28), (7, 1), (7, 9))
GRADES = (10000, 30000, 50000)


def statistics_county(world: World, session_factory, tmp_path: Path) -> None:
    """Three pensioners paid June 2026, 150 seeded residents, eight collections (one
    reversed), two cards issued in March, one of them lost in July."""
    three_pensioners(world, session_factory)
    with unit_of_work(session_factory) as s:
        seed_residents(session=s, county=COUNTY, residents=150, seed=16, actor=Actor.system("t"))
        clerk = Principal.of(s.get(Operator, world.operator_ids["clerk_county"]), Actor.system())
        reviewer = Principal.of(
            s.get(Operator, world.operator_ids["reviewer_county"]), Actor.system()
        )
        payers = s.scalars(
            select(Person.id)
            .join(Enrolment, Enrolment.person_id == Person.id)
            .where(Enrolment.status == "paying", Person.birth_date > dt.date(1970, 1, 1))
            .order_by(Enrolment.region_code.desc(), Person.id)
            .limit(len(COLLECTION_DAYS))
        ).all()
        collections = []
        for index, (person_id, (month, day)) in enumerate(
            zip(payers, COLLECTION_DAYS, strict=True)
        ):
            on = dt.date(2026, month, day)
            assessment = contrib.assess(
                session=s,
                principal=clerk,
                person_id=person_id,
                year=2026,
                grade_fen=GRADES[index % len(GRADES)],
                hardship_group="low_income" if index == 4 else None,
                today=on,
            )
            collections.append(
                contrib.collect(session=s, principal=clerk, assessment_id=assessment.id, on=on)
            )
        contrib.reverse_collection(
            session=s,
            principal=reviewer,
            reason="错收",
            on=dt.date(2026, 4, 9),
            collection_id=collections[2].id,
        )
    pay_month(world, session_factory, "2026-06", tmp_path)
    # Two cards issued and activated in March; one reported lost at 01:00 on 1 July,
    # Beijing time (still 30 June in UTC): a July loss.
    cards = [add_card(session_factory, person_id, state="personalised") for person_id in payers[:2]]
    march = dt.datetime(2026, 3, 5, 2, 0, tzinfo=dt.UTC)
    with unit_of_work(session_factory) as s:
        for card in cards:
            s.add(CardEvent(card_id=card.id, action="issue", to_state="issued", at=march))
            s.add(CardEvent(card_id=card.id, action="activate", to_state="active", at=march))
        s.add(
            CardEvent(
                card_id=cards[0].id,
                action="report_loss",
                from_state="active",
                to_state="lost",
                at=dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC),
            )
        )
