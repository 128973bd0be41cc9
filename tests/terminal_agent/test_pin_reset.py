"""``POST /v1/card/pin-reset``: the backend's unblock command reaches the card in the reader.

On pcscd + vpcd (the Virtual PCD has no PIN pad) the resident's new PIN comes from the
page's masked field; a blocked card is unblocked, the new PIN verifies on the card read
back through PC/SC, the old one does not, and the backend audited the command and the
card's answer. On a simulated reader whose profile has a PIN pad the page sends no PIN:
the resident types it on the pad (twice, then once to verify) and nobody else sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from backend.cards.models import Card
from backend.db import make_session_factory
from backend.registry.models import Person
from card_services import VirtualCard, read_basic_data, verify_pin
from card_services.demo import DEMO_PIN, demo_personalised_card
from card_services.errors import PinBlockedError, PinWrongError
from device_drivers.card_reader import SimulatedCardReader
from device_drivers.card_reader.pin_pad import SimulatedPinPad
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from tests.pcsc_rig import SLOT0_READER, PcscRig
from tests.terminal_agent.backend_support import LiveBackend
from tests.terminal_agent.support import PAIRING_TOKEN, ServerThread, agent_config

PAD_READER = "Mingwah URD-R310 PIN 00 00"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1 with the demo keys in its vault."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


def _holder_id_number(backend: LiveBackend, card_id: int) -> str:
    with make_session_factory(backend.engine)() as session:
        card = session.get_one(Card, card_id)
        return session.get_one(Person, card.person_id).id_number


def _audit(backend: LiveBackend, action: str, result: str = "ok") -> int:
    return backend.count(
        "SELECT count(*) FROM audit_records WHERE action = :a AND result = :r", a=action, r=result
    )


def _reset(agent: Agent, token: str, key: str, **body: object) -> httpx.Response:
    with ServerThread(create_api(agent), agent.config.port) as local:
        headers = {PAIRING_HEADER: PAIRING_TOKEN, "Authorization": token, "Idempotency-Key": key}
        return httpx.post(f"{local.url}/v1/card/pin-reset", headers=headers, json=body, timeout=30)


@pytest.mark.pcsc
def test_a_blocked_card_gets_the_new_pin_typed_in_the_page_and_verifies_it(
    tmp_path: Path, backend: LiveBackend, rig: PcscRig
) -> None:
    rig.fresh_card(generation=3)
    with rig.reader.connect(name=SLOT0_READER) as connection:
        basic = read_basic_data(connection)
    card_id = backend.register_card(
        identification_code=basic.identification_code.hex().upper(),
        card_number=basic.card_number,
        generation=3,
    )
    with rig.reader.connect(name=SLOT0_READER) as connection:
        for _ in range(3):
            with pytest.raises((PinWrongError, PinBlockedError)):
                verify_pin(connection, "999999")
    config = agent_config(
        tmp_path, backend_url=backend.url, card_reader={"kind": "pcsc", "reader": "Virtual PCD"}
    )
    agent = bootstrap(config)
    agent.start()
    token = backend.login()
    id_number = _holder_id_number(backend, card_id)
    try:
        wrong = _reset(
            agent, token, "k-0", card_id=card_id, id_number="11010119000101123X", new_pin="246810"
        )
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["errors"][0]["field"] == "id_number"
        assert wrong.json()["errors"][0]["code"] == "id_mismatch"
        answer = _reset(agent, token, "k-1", card_id=card_id, id_number=id_number, new_pin="246810")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "card_number": basic.card_number,
            "entry": "keyboard",
            "verified": True,
            "tries_left": 3,
        }
        again = _reset(agent, token, "k-1", card_id=card_id, id_number=id_number, new_pin="246810")
        assert again.json() == answer.json()  # the retry is answered, nothing sent again
    finally:
        agent.close()
    # Read back through PC/SC: the card takes the new PIN and no longer the old one.
    with rig.reader.connect(name=SLOT0_READER) as connection:
        verify_pin(connection, "246810")
        with pytest.raises(PinWrongError):
            verify_pin(connection, DEMO_PIN)
        verify_pin(connection, "246810")
    assert _audit(backend, "card.pin_reset") == 1
    assert _audit(backend, "card.pin_reset_result") == 1
    assert backend.count("SELECT count(*) FROM audit_records WHERE detail LIKE '%246810%'") == 0


def test_on_a_pin_pad_reader_the_resident_types_the_pin_and_the_page_sends_none(
    tmp_path: Path, backend: LiveBackend
) -> None:
    chip = VirtualCard(demo_personalised_card(label="pad", generation=3, serial=77))
    basic = read_basic_data(chip)
    chip.reset()
    card_id = backend.register_card(
        identification_code=basic.identification_code.hex().upper(),
        card_number=basic.card_number,
        generation=3,
    )
    pad = SimulatedPinPad(timeout=5)
    reader = SimulatedCardReader((PAD_READER,), pin_pad=pad)
    reader.insert(chip)
    agent = bootstrap(agent_config(tmp_path, backend_url=backend.url))
    agent.device("card_reader").driver = reader  # the pad reader instead of the default
    agent.start()
    token = backend.login()
    id_number = _holder_id_number(backend, card_id)
    try:
        typed = _reset(agent, token, "p-0", card_id=card_id, id_number=id_number, new_pin="111111")
        assert typed.status_code == 422 and typed.json()["code"] == "pin_pad_required"
        pad.press("135790", "135799")  # the confirmation differs: nothing is changed
        mismatch = _reset(agent, token, "p-1", card_id=card_id, id_number=id_number)
        assert mismatch.status_code == 409 and mismatch.json()["code"] == "pin_entry_failed"
        pad.press("135790", "135790", "135790")  # new PIN, its confirmation, the check
        answer = _reset(agent, token, "p-2", card_id=card_id, id_number=id_number)
        assert answer.status_code == 200, answer.text
        assert answer.json()["entry"] == "pin_pad" and answer.json()["verified"] is True
    finally:
        agent.close()
    assert pad.prompts[-3:] == ["请输入新密码", "请再次输入新密码", "请输入密码"]
    chip.reset()
    verify_pin(chip, "135790")
    with pytest.raises(PinWrongError):
        verify_pin(chip, DEMO_PIN)
    results = backend.count(
        "SELECT count(*) FROM audit_records WHERE action = 'card.pin_reset_result'"
    )
    assert results == 2  # the failed entry and the reset, each reported
    assert _audit(backend, "card.pin_reset_result", "failed") == 1
    with make_session_factory(backend.engine)() as session:
        assert session.scalar(select(Card.state).where(Card.id == card_id)) == "active"
