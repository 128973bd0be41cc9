"""A card centre's reach is its own subtree of the region tree, and releasing a
personalisation script is on the audit record."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.cards.models import Card
from backend.db import unit_of_work
from backend.keys import LocalKeyVault
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from card_services.applications import card_atr
from tests.backend.card_support import add_card, add_card_centre, add_person
from tests.conftest import PASSWORD, World

HBK_VILLAGE = "654226100200"  # 和布克赛尔镇
HST_VILLAGE = "654226101200"  # 和什托洛盖镇: the neighbour whose code shares "6542261"


def _township_card_centre(world: World, session_factory: sessionmaker[Session]) -> str:
    with unit_of_work(session_factory) as s:
        orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="card_centre_hbk",
            full_name="和布克赛尔镇制卡点",
            role=Role.CARD_CENTRE,
            office_id=world.offices["hbk"].id,
            password=PASSWORD,
        )
    return "card_centre_hbk"


def test_township_card_centre_cannot_collect_a_neighbours_cards_by_a_short_prefix(
    world: World, session_factory: sessionmaker[Session]
):
    user = _township_card_centre(world, session_factory)
    own = add_card(
        session_factory, add_person(session_factory, village=HBK_VILLAGE), state="applied"
    )
    neighbour = add_card(
        session_factory, add_person(session_factory, village=HST_VILLAGE), state="applied"
    )
    # "6542261" padded with zeros is the township's own code, but as a prefix it also
    # names 和什托洛盖镇 (654226101): refused as outside the scope, nothing collected.
    r = world.client.post(
        "/api/v1/cards/batches", json={"region_prefix": "6542261"}, headers=world.headers(user)
    )
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "region_not_found"
    r = world.client.post(
        "/api/v1/cards/batches", json={"region_prefix": "654226100"}, headers=world.headers(user)
    )
    assert r.status_code == 201, r.text
    assert r.json()["card_count"] == 1
    with session_factory() as s:
        assert s.get_one(Card, own.id).state == "in_production"
        assert s.get_one(Card, neighbour.id).state == "applied"


def test_township_card_centre_cannot_open_a_county_batch(
    world: World, session_factory: sessionmaker[Session]
):
    add_card_centre(world, session_factory)
    user = _township_card_centre(world, session_factory)
    add_card(session_factory, add_person(session_factory, village=HBK_VILLAGE), state="applied")
    add_card(session_factory, add_person(session_factory, village=HST_VILLAGE), state="applied")
    batch = world.client.post(
        "/api/v1/cards/batches",
        json={"region_prefix": "6542261"},
        headers=world.headers("card_centre"),
    )
    assert batch.status_code == 201, batch.text
    assert batch.json()["card_count"] == 2
    # The batch's prefix padded with zeros is the township's code; its cards are not all
    # the township's, so the township's centre does not see the batch.
    r = world.client.get(f"/api/v1/cards/batches/{batch.json()['id']}", headers=world.headers(user))
    assert r.status_code == 404, r.text
    r = world.client.get(
        f"/api/v1/cards/batches/{batch.json()['id']}", headers=world.headers("card_centre")
    )
    assert r.status_code == 200


def test_releasing_a_personalisation_script_is_audited(
    world: World, session_factory: sessionmaker[Session], tmp_path: Path
):
    world.client.app.state.key_vault = LocalKeyVault.create(  # type: ignore[attr-defined]
        tmp_path / "vault.json",
        passphrase="test vault passphrase",
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    user = add_card_centre(world, session_factory)
    serial = 4711
    atr = card_atr(3, chip_serial=serial.to_bytes(8, "big"), blank=True).hex().upper()
    card = add_card(
        session_factory,
        add_person(session_factory),
        state="produced",
        atr=atr,
        card_number=f"P{serial:08d}",
        identification_code="654226" + f"{serial:026d}",
    )
    r = world.client.post(
        f"/api/v1/cards/{card.id}/personalisation",
        json={"atr": atr},
        headers=world.headers(user),
    )
    assert r.status_code == 200, r.text
    with session_factory() as s:
        released = s.scalars(
            select(AuditRecord).where(AuditRecord.action == "card.personalisation_script")
        ).all()
    assert len(released) == 1
    entry = released[0]
    assert entry.object_id == str(card.id)
    assert entry.operator_id == world.operator_ids[user]
    detail = json.loads(entry.detail)
    assert detail["atr"] == atr and detail["key_version"] == 1
