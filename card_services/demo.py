"""DEMO AND TEST DATA ONLY — public keys and invented people for the virtual card.

These keys are published in the repository: anything protected by them is not
protected. Production master keys come from the key vault, never from this module.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from card_services.applications import application_for_atr, card_atr
from card_services.keys import MasterKeys, derive_transport_key
from card_services.operations import personalise_card
from card_services.personalisation import (
    PersonalisationData,
    build_personalisation_script,
)
from card_services.records import BasicCardData, HolderData
from card_services.virtual_card import CardState, VirtualCard, new_blank_card

DEMO_MASTER_KEYS: Final = MasterKeys(
    read=bytes.fromhex("DE01DE01DE01DE01DE01DE01DE01DE01"),
    internal_auth=bytes.fromhex("DE02DE02DE02DE02DE02DE02DE02DE02"),
    update=bytes.fromhex("DE03DE03DE03DE03DE03DE03DE03DE03"),
    pin_unblock=bytes.fromhex("DE04DE04DE04DE04DE04DE04DE04DE04"),
)
DEMO_TRANSPORT_MASTER_KEY: Final = bytes.fromhex("DE00DE00DE00DE00DE00DE00DE00DE00")
DEMO_PIN: Final = "123456"


def demo_personalisation_data(*, generation: int, sequence: int = 1) -> PersonalisationData:
    """An invented holder in Hoboksar county (654226) on a card of ``generation``."""
    region = "654226"
    identification_code = bytes.fromhex(region) + b"\x00" * 5 + sequence.to_bytes(8, "big")
    return PersonalisationData(
        basic=BasicCardData(
            identification_code=identification_code,
            card_type="3",
            spec_version=f"{generation}.00",
            initialising_org="654226000000000000000001",
            issue_date=date(2020, 6, 1),
            expiry_date=date(2030, 6, 1),
            card_number=f"X{sequence:08d}",
        ),
        holder=HolderData(
            social_security_number="65422619580101002X",
            name="巴特尔·额尔德尼巴雅尔" if generation > 1 else "张桂兰",
            gender="1",
            ethnicity="02",
            birthplace=region,
            birth_date=date(1958, 1, 1),
        ),
        initial_pin=DEMO_PIN,
    )


def demo_blank_card(*, label: str, generation: int, serial: int) -> CardState:
    """A blank card whose transport key comes from the demo transport master key."""
    chip_serial = serial.to_bytes(8, "big")
    atr = card_atr(generation, chip_serial=chip_serial, blank=True)
    transport_key = derive_transport_key(
        DEMO_TRANSPORT_MASTER_KEY, application=application_for_atr(atr), atr=atr
    )
    return new_blank_card(
        label=label, generation=generation, chip_serial=chip_serial, transport_key=transport_key
    )


def demo_personalised_card(*, label: str, generation: int, serial: int) -> CardState:
    """A demo card personalised through its own command set, as a card centre would."""
    state = demo_blank_card(label=label, generation=generation, serial=serial)
    card = VirtualCard(state)
    application = card.application
    script = build_personalisation_script(
        demo_personalisation_data(generation=generation, sequence=serial),
        application=application,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=state.transport_key,
    )
    personalise_card(card, script)
    return card.state
