"""GA 467 framing and ID card text, without any line: bytes in, typed values out."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.id_scanner import errors, protocol
from device_drivers.id_scanner.idcard import (
    LONG_TERM,
    encode_card_text,
    encode_read_reply_data,
    parse_card_text,
    parse_read_reply,
)
from device_drivers.id_scanner.simulator import synthetic_deck

DECK = synthetic_deck(8)


def test_find_card_frame_matches_the_published_bytes() -> None:
    frame = protocol.encode_request(protocol.Request(0x20, 0x01))
    assert frame == bytes.fromhex("AAAAAA9669 0003 2001 22")


def test_reply_length_counts_status_data_and_check() -> None:
    frame = protocol.encode_reply(protocol.Reply(0, 0, 0x9F, bytes(4)))
    assert frame[:5] == protocol.PREAMBLE
    assert int.from_bytes(frame[5:7], "big") == 3 + 4 + 1 == len(frame) - 7
    assert frame[-1] == protocol.checksum(frame[5:-1])


@given(
    sw=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    data=st.binary(max_size=1500),
    noise=st.binary(max_size=40),
    split=st.integers(min_value=1, max_value=50),
)
def test_frames_survive_noise_and_arbitrary_splits(
    sw: tuple[int, int, int], data: bytes, noise: bytes, split: int
) -> None:
    reply = protocol.Reply(*sw, data)
    stream = noise + protocol.encode_reply(reply)
    reader = protocol.FrameReader()
    bodies = []
    for offset in range(0, len(stream), split):
        reader.feed(stream[offset : offset + split])
        while (body := reader.next_body()) is not None:
            bodies.append(body)
    assert [protocol.decode_reply(b) for b in bodies] == [reply]


def test_a_preamble_inside_the_photo_does_not_split_the_frame() -> None:
    data = protocol.PREAMBLE * 3 + bytes(10)
    reader = protocol.FrameReader()
    reader.feed(protocol.encode_reply(protocol.Reply(0, 0, 0x90, data)))
    body = reader.next_body()
    assert body is not None and protocol.decode_reply(body).data == data


def test_a_stray_preamble_with_an_impossible_length_is_skipped() -> None:
    reader = protocol.FrameReader()
    reader.feed(protocol.PREAMBLE + b"\xff\xff" + protocol.encode_reply(protocol.Reply(0, 0, 0x90)))
    body = reader.next_body()
    assert body is not None and protocol.decode_reply(body).sw3 == 0x90
    assert reader.discarded > 0


def test_bad_check_byte_raises_and_the_stream_goes_on() -> None:
    good = protocol.encode_reply(protocol.Reply(0, 0, 0x90))
    reader = protocol.FrameReader()
    reader.feed(good[:-1] + bytes([good[-1] ^ 1]) + good)
    with pytest.raises(errors.ChecksumError):
        reader.next_body()
    assert reader.next_body() is not None


def test_half_a_frame_is_in_frame_not_complete() -> None:
    reader = protocol.FrameReader()
    reader.feed(protocol.encode_reply(protocol.Reply(0, 0, 0x90, bytes(100)))[:50])
    assert reader.next_body() is None
    assert reader.in_frame


@pytest.mark.parametrize(("sw3", "error_class"), sorted(protocol.STATUS_TABLE.items()))
def test_every_status_code_raises_its_table_class(
    sw3: int, error_class: tuple[type[errors.IdScannerError], str]
) -> None:
    with pytest.raises(error_class[0]) as caught:
        protocol.Reply(0, 0, sw3).raise_for_status()
    assert caught.value.status == sw3
    assert caught.value.to_dict()["status"] == f"{sw3:02X}"


def test_success_codes_pass_and_an_undefined_code_is_unknown_status() -> None:
    protocol.Reply(0, 0, 0x90).raise_for_status()
    protocol.Reply(0, 0, 0x9F).raise_for_status()
    with pytest.raises(errors.UnknownStatusError):
        protocol.Reply(0, 0, 0x55).raise_for_status()


def test_no_card_is_retriable_and_not_genuine_is_fatal() -> None:
    assert errors.NoIdCardError.retriable
    assert not errors.CardNotGenuineError.retriable
    assert errors.NoIdCardError("x").to_dict()["code"] == "no_id_card"


@pytest.mark.parametrize("card", DECK, ids=lambda c: c.name)
def test_card_text_round_trips_through_the_256_byte_layout(card: object) -> None:
    assert parse_read_reply(encode_read_reply_data(card)) == card  # type: ignore[arg-type]


def test_long_term_validity_is_none_and_dates_are_typed() -> None:
    elder = next(c for c in DECK if c.valid_to is None)
    text = encode_card_text(elder)
    assert LONG_TERM.encode("utf-16-le") in text
    parsed = parse_card_text(text, elder.photo_wlt)
    assert parsed.valid_to is None and parsed.is_valid_on(dt.date(2090, 1, 1))
    assert isinstance(parsed.birth_date, dt.date)
    assert len(parsed.photo_wlt) == 1024


def test_wrong_id_number_check_character_is_refused() -> None:
    card = DECK[3]
    wrong = card.id_number[:17] + ("0" if card.id_number[17] != "0" else "1")
    text = encode_card_text(dataclasses.replace(card, id_number=wrong))
    with pytest.raises(errors.InvalidCardDataError, match="校验位"):
        parse_card_text(text, card.photo_wlt)


def test_id_number_disagreeing_with_the_gender_field_is_refused() -> None:
    card = DECK[3]
    other_gender = "2" if card.gender == "1" else "1"
    text = encode_card_text(dataclasses.replace(card, gender=other_gender))
    with pytest.raises(errors.InvalidCardDataError, match="不一致"):
        parse_card_text(text, card.photo_wlt)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01", "缺少"),
        (b"\x01\x00\x04\x00" + bytes(10), "应为"),
        (b"\x00\x10\x04\x00" + bytes(1296), "长度异常"),
    ],
)
def test_malformed_read_replies_are_specific_errors(data: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidCardDataError, match=message):
        parse_read_reply(data)


def test_undecodable_text_is_invalid_card_data() -> None:
    text = bytearray(encode_card_text(DECK[3]))
    text[0:2] = b"\x00\xd8"  # a lone UTF-16 high surrogate
    with pytest.raises(errors.InvalidCardDataError, match="无法解码"):
        parse_card_text(bytes(text), DECK[3].photo_wlt)
