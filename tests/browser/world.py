"""The world the page tests visit: a real backend with a pensioner who holds a real
(virtual) card in pcscd + vpcd, an agent on those devices, and the kiosk device.

The pensioner is made the way the backend makes one: settled contribution years and a
posted account balance, then an application by the township clerk approved by the
township reviewer over the API. The card's chip data come from the card in the reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from backend.audit.service import Actor
from backend.db import make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.orgs.models import Office
from backend.orgs.permissions import Role
from backend.pki.models import Device
from backend.registry.models import Person
from card_services import read_basic_data
from device_drivers.id_scanner import IdCard
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import create_api
from tests.backend.benefits_support import EARLY_APPLIED_ON, EARLY_BIRTH, add_candidate
from tests.backend.card_support import add_card
from tests.backend.money_world import load_basics
from tests.pcsc_rig import SLOT0_READER, PcscRig
from tests.terminal_agent.backend_support import CLERK, PASSWORD, LiveBackend
from tests.terminal_agent.support import ServerThread, agent_config

REVIEWER = "reviewer_hbk"
VILLAGE = "654226100200"  # 那仁和布克村, in the clerk's township (和布克赛尔镇)
KIOSK = "hbk-kiosk-01"
OFFICE = "654226100-SB"


@dataclass(frozen=True)
class Pensioner:
    """The resident the visit is about."""

    person_id: int
    id_number: str
    name: str
    card_id: int

    def id_card(self) -> IdCard:
        """The resident's ID card."""
        return self.stranger_id_card(self.id_number, self.name, EARLY_BIRTH)

    @staticmethod
    def stranger_id_card(id_number: str, name: str, birth_date: dt.date) -> IdCard:
        """Someone's ID card (a man's, in the same village)."""
        return IdCard(
            name=name,
            gender="1",
            ethnicity="02",
            birth_date=birth_date,
            address="新疆和布克赛尔蒙古自治县和布克赛尔镇那仁和布克村12号",
            id_number=id_number,
            issuing_authority="和布克赛尔县公安局",
            valid_from=dt.date(2015, 6, 1),
            valid_to=None,
        )


def bearer(backend: LiveBackend, username: str) -> dict[str, str]:
    """Authorization headers of an operator of the test backend."""
    answer = httpx.post(
        f"{backend.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def make_pensioner(backend: LiveBackend, rig: PcscRig) -> Pensioner:
    """A pensioner of the clerk's township whose card is the one now in the reader."""
    factory = make_session_factory(backend.engine)
    with unit_of_work(factory) as session:
        load_basics(session, regions=False)
        office = session.scalar(select(Office).where(Office.code == OFFICE))
        assert office is not None
        orgs.create_operator(
            session=session,
            principal=None,
            actor=Actor.system(),
            username=REVIEWER,
            full_name="王芳",
            role=Role.REVIEWER,
            office_id=office.id,
            password=PASSWORD,
        )
        person_id = add_candidate(
            session, sequence=41, birth=EARLY_BIRTH, village=VILLAGE, name="巴特尔"
        )
        session.add(
            Device(name=KIOSK, kind="kiosk", office_id=office.id, region_code=office.region_code)
        )
    clerk = bearer(backend, CLERK)
    applied = httpx.post(
        f"{backend.url}/api/v1/benefits/applications",
        json={
            "person_id": person_id,
            "applied_on": EARLY_APPLIED_ON.isoformat(),
            "bank_code": "RCC",
            "bank_account": "6230000012345678",
        },
        headers={**clerk, "Idempotency-Key": f"apply-{person_id}"},
    )
    assert applied.status_code == 201, applied.text
    approved = httpx.post(
        f"{backend.url}/api/v1/benefits/applications/{applied.json()['id']}/approve",
        json={},
        headers={**bearer(backend, REVIEWER), "Idempotency-Key": f"approve-{person_id}"},
    )
    assert approved.status_code == 200, approved.text
    with rig.reader.connect(name=SLOT0_READER) as connection:
        chip = read_basic_data(connection)
    card = add_card(
        factory,
        person_id,
        state="active",
        identification_code=chip.identification_code.hex().upper(),
        card_number=chip.card_number,
    )
    with factory() as session:
        person = session.get(Person, person_id)
        assert person is not None
        return Pensioner(person_id, person.id_number, person.name, card.id)


@contextmanager
def running_agent(
    tmp_path: Path, backend: LiveBackend, **sections: Any
) -> Iterator[tuple[Agent, str]]:
    """An agent on pcscd + vpcd, a pty ID scanner (empty) and a TCP capture printer,
    serving its local API; yields the agent and the API's URL."""
    config = agent_config(
        tmp_path,
        backend_url=backend.url,
        allowed_origin=backend.url,
        card_reader={
            "kind": "pcsc",
            "reader": "Virtual PCD",
            "authentication": "online",
            "verifier": "backend",
        },
        id_scanner={"kind": "simulator", "profile": "simulator", "simulator_card": None},
        **sections,
    )
    agent = bootstrap(config)
    agent.start()
    try:
        with ServerThread(create_api(agent), config.port) as served:
            yield agent, served.url
    finally:
        agent.close()
