"""Personalisation through the real stack: a blank virtual card in pcscd + vpcd, the
station over HTTP to the backend application, the card written, read back, verified →
personalised; a chip that refuses the script → spoiled, never issued."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.keys import LocalKeyVault
from card_services import CardClient, commands, read_basic_data
from card_services.applications import card_atr
from card_services.demo import demo_blank_card
from card_services.virtual_card import new_blank_card
from device_drivers.personalise_station import PersonalisationStation, StationError
from tests.backend.card_support import add_card, add_card_centre, add_person
from tests.conftest import World

from .conftest import SLOT0_READER, PcscRig

pytestmark = pytest.mark.pcsc


@pytest.fixture
def station(world: World, session_factory: sessionmaker[Session], rig: PcscRig, tmp_path: Path):
    """The station, logged in as the card centre, talking to the backend application."""
    world.client.app.state.key_vault = LocalKeyVault.create(  # type: ignore[attr-defined]
        tmp_path / "vault.json",
        passphrase="test vault passphrase",
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    add_card_centre(world, session_factory)
    world.client.headers.update(
        {"Authorization": f"Bearer {world.token('card_centre')}", "X-XNB-Device": "station-1"}
    )
    return PersonalisationStation(http=world.client, reader=rig.reader, reader_name=SLOT0_READER)


def _produced_card(session_factory, serial: int) -> int:
    atr = card_atr(3, chip_serial=serial.to_bytes(8, "big"), blank=True).hex().upper()
    card = add_card(
        session_factory,
        add_person(session_factory),
        state="produced",
        atr=atr,
        card_number=f"P{serial:08d}",
        identification_code="654226" + f"{serial:026d}",
    )
    return card.id


def test_blank_card_is_personalised_through_pcscd(
    world: World, station, rig: PcscRig, session_factory
):
    serial = 4242 + secrets.randbelow(1000)
    card_id = _produced_card(session_factory, serial)
    rig.deck.add(demo_blank_card(label=f"blank-{serial}", generation=3, serial=serial))
    rig.insert(f"blank-{serial}")
    assert station.card_id_for(f"P{serial:08d}") == card_id
    result = station.personalise(card_id)
    assert result.verified and result.state == "personalised", result.problems
    # Read it back over PC/SC and authenticate it online: genuine, not yet issued.
    with rig.reader.connect(name=SLOT0_READER) as connection:
        basic = read_basic_data(connection)
        assert basic.card_number == f"P{serial:08d}"
        challenge = world.client.post(
            "/api/v1/cards/authentications/challenges",
            json={"identification_code": basic.identification_code.hex()},
        ).json()
        answer = CardClient(connection).send(
            commands.internal_authenticate(bytes.fromhex(challenge["challenge"]))
        )
    checked = world.client.post(
        "/api/v1/cards/authentications",
        json={"challenge_id": challenge["challenge_id"], "cryptogram": answer.data.hex()},
    )
    assert checked.status_code == 409 and checked.json()["authentic"] is True
    assert checked.json()["code"] == "card_not_active"
    again = world.client.post(f"/api/v1/cards/{card_id}/personalisation", json={"atr": "3B00"})
    assert again.status_code == 409  # personalised once: no second script


def test_chip_refusing_the_script_is_spoiled(world: World, station, rig: PcscRig, session_factory):
    serial = 6000 + secrets.randbelow(1000)
    card_id = _produced_card(session_factory, serial)
    # The right ATR but another transport key: every MACed command is refused.
    rogue = new_blank_card(
        label=f"rogue-{serial}",
        generation=3,
        chip_serial=serial.to_bytes(8, "big"),
        transport_key=secrets.token_bytes(16),
    )
    rig.deck.add(rogue)
    rig.insert(f"rogue-{serial}")
    result = station.personalise(card_id)
    assert not result.verified and result.state == "spoiled"
    assert any("写卡失败" in p for p in result.problems)
    issue = world.client.post(
        f"/api/v1/cards/{card_id}/actions/issue",
        json={"id_number": "65422619500301001X"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    assert issue.status_code in (403, 409)  # a spoiled card is never issued


def test_wrong_chip_is_refused_before_anything_is_written(
    world: World, station, rig: PcscRig, session_factory
):
    card_id = _produced_card(session_factory, 7777)
    rig.deck.add(demo_blank_card(label="other-chip", generation=3, serial=8888), replace=True)
    rig.insert("other-chip")
    with pytest.raises(StationError) as refused:
        station.personalise(card_id)
    assert refused.value.problem["code"] == "wrong_chip"
