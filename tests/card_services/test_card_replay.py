"""Recorded APDU scripts replayed against the card library, with no reader and no card.

The scripts in ``scripts/`` were recorded with ``card_services.replay.RecordingChannel``
from demo cards (chip serial 7, blank card 99) using the counting randomness of
``conftest.counting_random``; they pin down the exact bytes of each protocol.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from card_services import (
    MasterKeyVerifier,
    PinBlockedError,
    PinWrongError,
    authenticate_card,
    build_personalisation_script,
    personalise_card,
    read_basic_data,
    read_holder_data,
    verify_pin,
)
from card_services.applications import GENERATION_3, card_atr
from card_services.demo import (
    DEMO_MASTER_KEYS,
    DEMO_TRANSPORT_MASTER_KEY,
    demo_personalisation_data,
)
from card_services.errors import TlvError
from card_services.keys import derive_transport_key
from card_services.replay import ReplayChannel, ScriptMismatchError, parse_script

from .conftest import counting_random

SCRIPTS = Path(__file__).parent / "scripts"


def replay(name: str) -> ReplayChannel:
    return ReplayChannel(parse_script((SCRIPTS / name).read_text(encoding="utf-8")))


def demo_verifier() -> MasterKeyVerifier:
    return MasterKeyVerifier(DEMO_MASTER_KEYS, random_bytes=counting_random(77))


def test_gen3_read_with_external_authenticate() -> None:
    channel = replay("gen3_read_basic_and_holder.json")
    basic = read_basic_data(channel)
    holder = read_holder_data(channel, basic=basic, verifier=demo_verifier())
    assert channel.finished
    assert basic == demo_personalisation_data(generation=3, sequence=7).basic
    assert holder.name == "巴特尔·额尔德尼巴雅尔"


def test_gen2_mutual_authentication() -> None:
    channel = replay("gen2_mutual_authentication.json")
    result = authenticate_card(channel, demo_verifier())
    assert channel.finished
    assert result.basic.spec_version == "2.00"


def test_gen1_pin_blocking() -> None:
    channel = replay("gen1_pin_blocked.json")
    with pytest.raises(PinWrongError):
        verify_pin(channel, "000000")
    with pytest.raises(PinWrongError) as last_try:
        verify_pin(channel, "111111")
    assert last_try.value.tries_left == 1
    with pytest.raises(PinBlockedError):
        verify_pin(channel, "222222")
    assert channel.finished


def test_gen3_personalisation_script_is_byte_exact() -> None:
    atr = card_atr(3, chip_serial=(99).to_bytes(8, "big"), blank=True)
    transport_key = derive_transport_key(
        DEMO_TRANSPORT_MASTER_KEY, application=GENERATION_3, atr=atr
    )
    script = build_personalisation_script(
        demo_personalisation_data(generation=3, sequence=42),
        application=GENERATION_3,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=transport_key,
    )
    channel = replay("gen3_personalisation.json")
    assert personalise_card(channel, script).card_number == "X00000042"
    assert channel.finished


def test_a_different_command_breaks_the_replay() -> None:
    channel = replay("gen1_pin_blocked.json")
    with pytest.raises(ScriptMismatchError):
        verify_pin(channel, "123456")


def test_truncated_record_from_the_card_is_a_tlv_error() -> None:
    channel = replay("gen3_read_basic_and_holder.json")
    truncated = channel.exchanges[2]
    channel.exchanges[2] = type(truncated)(
        truncated.command, bytes.fromhex("0110654226") + b"\x90\x00"
    )
    with pytest.raises(TlvError, match="says 16 bytes"):
        read_basic_data(channel)
