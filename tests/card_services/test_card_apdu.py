"""Command/response APDUs, the status-word table and T=0 handling in the channel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_services import CardClient, CommandApdu, ResponseApdu
from card_services.errors import (
    ApduFormatError,
    CardFileNotFoundError,
    CardStatusError,
    PinBlockedError,
    PinWrongError,
    SecureMessagingError,
    WrongLengthError,
)
from card_services.status_words import status_error


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00A40000", CommandApdu(0, 0xA4, 0, 0)),
        ("0084000008", CommandApdu(0, 0x84, 0, 0, le=8)),
        ("00B2012C00", CommandApdu(0, 0xB2, 1, 0x2C, le=256)),
        ("00A4020002EF05", CommandApdu(0, 0xA4, 2, 0, b"\xef\x05")),
        ("0088000008" + "11" * 8 + "08", CommandApdu(0, 0x88, 0, 0, b"\x11" * 8, le=8)),
        ("00B0000000012C", CommandApdu(0, 0xB0, 0, 0, le=300)),
        ("00B00000000000", CommandApdu(0, 0xB0, 0, 0, le=65536)),
        ("00D6000000012C" + "AB" * 300, CommandApdu(0, 0xD6, 0, 0, b"\xab" * 300)),
        ("00D6000000012C" + "AB" * 300 + "0100", CommandApdu(0, 0xD6, 0, 0, b"\xab" * 300, 256)),
    ],
)
def test_command_apdu_parses_and_encodes_all_four_cases(raw: str, expected: CommandApdu) -> None:
    assert CommandApdu.from_bytes(bytes.fromhex(raw)) == expected
    assert expected.to_bytes() == bytes.fromhex(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00",
        "00A400",
        "00A4020003EF05",
        "00A4020001EF05AABB",
        "00B000000001",
        "00B0000000000200",
    ],
)
def test_malformed_command_apdu_raises_format_error(raw: str) -> None:
    with pytest.raises(ApduFormatError):
        CommandApdu.from_bytes(bytes.fromhex(raw))


def test_header_bytes_out_of_range_are_refused() -> None:
    with pytest.raises(ApduFormatError):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(ApduFormatError):
        CommandApdu(0, 0, 0, 0, le=0)


@given(
    header=st.tuples(*[st.integers(0, 255)] * 4),
    data=st.binary(max_size=400),
    le=st.one_of(st.none(), st.integers(1, 65536)),
)
def test_any_command_apdu_round_trips(
    header: tuple[int, int, int, int], data: bytes, le: int | None
) -> None:
    command = CommandApdu(*header, data=data, le=le)
    assert CommandApdu.from_bytes(command.to_bytes()) == command


def test_response_needs_a_status_word() -> None:
    assert ResponseApdu.from_bytes(b"\x01\x90\x00") == ResponseApdu(b"\x01", 0x90, 0x00)
    with pytest.raises(ApduFormatError):
        ResponseApdu.from_bytes(b"\x90")


@pytest.mark.parametrize(
    ("sw", "cls"),
    [
        (0x6A82, CardFileNotFoundError),
        (0x6983, PinBlockedError),
        (0x63C2, PinWrongError),
        (0x6988, SecureMessagingError),
        (0x6700, WrongLengthError),
        (0x6C10, WrongLengthError),
        (0x6F00, CardStatusError),
        (0x9123, CardStatusError),
    ],
)
def test_status_word_table_maps_to_specific_errors(sw: int, cls: type[Exception]) -> None:
    error = status_error(sw)
    assert type(error) is cls
    assert error.sw == sw
    assert f"{sw:04X}" in str(error)


def test_pin_wrong_error_carries_tries_left() -> None:
    error = status_error(0x63C1)
    assert isinstance(error, PinWrongError)
    assert error.tries_left == 1


class ScriptedT0Card:
    """Answers from a queue and records what it was sent."""

    def __init__(self, *responses: str) -> None:
        self.responses = [bytes.fromhex(r) for r in responses]
        self.sent: list[str] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        return self.responses.pop(0)


def test_channel_follows_61xx_with_get_response() -> None:
    card = ScriptedT0Card("6104", "01020304" + "9000")
    response = CardClient(card).send(CommandApdu(0, 0x88, 0, 0, b"\x11" * 8, le=8))
    assert response.data == b"\x01\x02\x03\x04"
    assert card.sent[1] == "00C0000004"


def test_channel_concatenates_chained_61xx_responses() -> None:
    card = ScriptedT0Card("6102", "AAAA6102", "BBBB9000")
    assert (
        CardClient(card).send(CommandApdu(0, 0xA4, 4, 0, b"X", le=256)).data == b"\xaa\xaa\xbb\xbb"
    )


def test_channel_repeats_command_with_le_from_6cxx() -> None:
    card = ScriptedT0Card("6C14", "01" * 20 + "9000")
    response = CardClient(card).send(CommandApdu(0, 0xB2, 1, 0x2C, le=256))
    assert len(response.data) == 20
    assert card.sent == ["00B2012C00", "00B2012C14"]


def test_channel_gives_up_on_endless_61xx() -> None:
    card = ScriptedT0Card(*["6101"] + ["006101"] * 100)
    with pytest.raises(ApduFormatError, match="never ends"):
        CardClient(card).send(CommandApdu(0, 0x88, 0, 0, b"\x11" * 8))


def test_channel_raises_mapped_error_unless_told_not_to() -> None:
    with pytest.raises(CardFileNotFoundError):
        CardClient(ScriptedT0Card("6A82")).send(CommandApdu(0, 0xA4, 2, 0, b"\xef\x09"))
    response = CardClient(ScriptedT0Card("6A82")).send(
        CommandApdu(0, 0xA4, 2, 0, b"\xef\x09"), check=False
    )
    assert response.sw == 0x6A82
