"""APDUs and TLV records: whatever the bytes, only ``CardError`` (card_services.errors).

Both sides are fuzzed: the terminal's parsers reading what a (possibly hostile) card
answers, and the virtual card's operating system answering any command APDU — which
must always answer a status word and never fail inside (a 6F00 from an internal fault
is logged, and the test counts it as a finding).
"""

from __future__ import annotations

import contextlib
import copy
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_services import read_basic_data
from card_services.apdu import CommandApdu, ResponseApdu
from card_services.demo import demo_personalised_card
from card_services.errors import CardError
from card_services.operations import parse_fci_algorithm
from card_services.tlv import decode_an, decode_cn, decode_gbk, parse_record
from card_services.virtual_card import VirtualCard
from tests.fuzz.support import fuzz

PERSONALISED = {
    generation: demo_personalised_card(label=f"fuzz-{generation}", generation=generation, serial=9)
    for generation in (2, 3)
}


@fuzz
@given(st.binary(max_size=300))
def test_command_and_response_apdus(raw: bytes) -> None:
    for parse in (CommandApdu.from_bytes, ResponseApdu.from_bytes):
        try:
            parsed = parse(raw)
        except CardError:
            continue
        assert parsed.to_bytes() == raw or isinstance(parsed, CommandApdu)


@fuzz
@given(st.binary(max_size=300), st.none() | st.integers(0, 255))
def test_tlv_records_and_value_codecs(raw: bytes, expected_tag: int | None) -> None:
    try:
        record = parse_record(raw, expected_tag=expected_tag)
    except CardError:
        record = None
    if record is not None:
        assert record.to_bytes() == raw or record.tag in (0, 0xFF)
    for decode in (decode_cn, decode_an, decode_gbk, parse_fci_algorithm):
        with contextlib.suppress(CardError):
            decode(raw)


@fuzz
@given(st.sampled_from((2, 3)), st.data())
def test_terminal_reading_a_card_that_answers_garbage(generation: int, data: st.DataObject):
    """The card's answers are replaced, truncated or bit-flipped at random."""
    card = VirtualCard(copy.deepcopy(PERSONALISED[generation]))

    class HostileChannel:
        def transmit(self, apdu: bytes) -> bytes:
            genuine = card.transmit(apdu)
            mode = data.draw(st.sampled_from(("genuine", "random", "truncate", "flip")))
            if mode == "random":
                return data.draw(st.binary(max_size=64))
            if mode == "truncate" and genuine:
                return genuine[: data.draw(st.integers(0, len(genuine) - 1))]
            if mode == "flip" and genuine:
                at = data.draw(st.integers(0, len(genuine) - 1))
                return (
                    genuine[:at]
                    + bytes([genuine[at] ^ data.draw(st.integers(1, 255))])
                    + genuine[at + 1 :]
                )
            return genuine

    with contextlib.suppress(CardError):
        read_basic_data(HostileChannel())


@pytest.fixture
def card_faults(caplog: pytest.LogCaptureFixture):
    """Internal faults the virtual card turned into 6F00 (each one is a finding)."""
    with caplog.at_level(logging.ERROR, logger="card_services"):
        yield caplog
    faults = [r.getMessage() for r in caplog.records if "virtual card failed" in r.getMessage()]
    assert not faults, faults[:3]


@fuzz
@given(
    st.sampled_from((2, 3)),
    st.lists(
        st.one_of(
            st.binary(max_size=270),
            # Well-formed headers with the card's own class and instruction bytes, so the
            # dispatcher (not only the length check) sees them.
            st.tuples(
                st.sampled_from((0x00, 0x80, 0x84, 0x04)),
                st.sampled_from(
                    (0xA4, 0xB0, 0xB2, 0xD6, 0xDC, 0x84, 0x82, 0x88, 0x20, 0x24, 0xC0, 0xE2)
                ),
                st.integers(0, 255),
                st.integers(0, 255),
                st.binary(max_size=40),
                st.none() | st.integers(1, 256),
            ).map(
                lambda t: CommandApdu(
                    cla=t[0], ins=t[1], p1=t[2], p2=t[3], data=t[4], le=t[5]
                ).to_bytes()
            ),
        ),
        max_size=12,
    ),
)
def test_virtual_card_answers_every_command_with_a_status_word(
    card_faults: pytest.LogCaptureFixture, generation: int, commands: list[bytes]
) -> None:
    card = VirtualCard(copy.deepcopy(PERSONALISED[generation]))
    for apdu in commands:
        answer = card.transmit(apdu)
        assert len(answer) >= 2
        assert ResponseApdu.from_bytes(answer).sw != 0x6F00, apdu.hex()
