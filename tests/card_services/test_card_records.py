"""TLV records, value codecs and the EF05/EF06 decoders."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_services import BasicCardData, HolderData
from card_services.demo import demo_personalisation_data
from card_services.errors import TlvError
from card_services.records import values_by_tag
from card_services.tlv import (
    decode_an,
    decode_cn,
    decode_gbk,
    encode_an,
    encode_cn,
    parse_record,
)


def test_cn_values_are_bcd_padded_with_f() -> None:
    assert encode_cn("20240131", 4) == bytes.fromhex("20240131")
    assert encode_cn("654226", 4) == bytes.fromhex("654226FF")
    assert decode_cn(bytes.fromhex("654226FF")) == "654226"
    with pytest.raises(TlvError):
        decode_cn(bytes.fromhex("65A226FF"))
    with pytest.raises(TlvError):
        encode_cn("123456789", 4)


def test_an_values_are_ascii_padded_with_00() -> None:
    assert encode_an("3.00", 4) == b"3.00"
    assert encode_an("X1", 4) == b"X1\x00\x00"
    assert decode_an(b"X1\x00\x00") == "X1"
    with pytest.raises(TlvError):
        decode_an(b"X\x001\x00")
    with pytest.raises(TlvError):
        encode_an("张", 4)


def test_names_are_gbk() -> None:
    assert decode_gbk("张桂兰".encode("gbk") + bytes(24)) == "张桂兰"
    with pytest.raises(TlvError):
        decode_gbk(b"\xff\xff\xff")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("01", "truncated"),
        ("0104AABB", "says 4 bytes"),
        ("0102AABBCC", "says 2 bytes"),
    ],
)
def test_truncated_or_overlong_records_are_refused(raw: str, message: str) -> None:
    with pytest.raises(TlvError, match=message):
        parse_record(bytes.fromhex(raw))


def test_unknown_tag_and_wrong_length_are_refused() -> None:
    with pytest.raises(TlvError, match="unknown tag 7F"):
        values_by_tag([bytes.fromhex("7F0100")])
    with pytest.raises(TlvError, match="must hold 1 bytes"):
        values_by_tag([bytes.fromhex("02023300")])
    with pytest.raises(TlvError, match="expected tag 01"):
        parse_record(bytes.fromhex("020133"), expected_tag=0x01)


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_ef05_and_ef06_round_trip(generation: int) -> None:
    data = demo_personalisation_data(generation=generation)
    ef05 = values_by_tag([r.to_bytes() for r in data.basic.to_records()])
    assert BasicCardData.from_values(ef05) == data.basic
    assert data.basic.issuing_region == "654226"
    records = data.holder.to_records(name_extension=generation > 1)
    ef06 = values_by_tag([r.to_bytes() for r in records])
    assert HolderData.from_values(ef06) == data.holder
    assert (0x4E in ef06) == (generation > 1)


def test_ef05_record_bytes_follow_the_specification() -> None:
    basic = demo_personalisation_data(generation=3).basic
    raw = [r.to_bytes().hex().upper() for r in basic.to_records()]
    assert raw[1] == "020133"
    assert raw[2] == "0304332E3030"
    assert raw[4] == "050420200601"
    assert raw[6] == "0709" + b"X00000001".hex().upper()


def test_long_name_spills_into_the_4e_extension() -> None:
    holder = replace(demo_personalisation_data(generation=3).holder, name="阿" * 20)
    records = {r.tag: r.value for r in holder.to_records(name_extension=True)}
    assert records[0x09] == ("阿" * 15).encode("gbk")
    assert records[0x4E] == ("阿" * 5).encode("gbk") + bytes(10)
    assert HolderData.from_values(records).name == "阿" * 20
    with pytest.raises(TlvError, match="does not fit 30"):
        holder.to_records(name_extension=False)


def test_missing_records_and_bad_dates_are_refused() -> None:
    data = demo_personalisation_data(generation=3)
    values = {r.tag: r.value for r in data.basic.to_records()}
    with pytest.raises(TlvError, match="missing for tags 07"):
        BasicCardData.from_values({k: v for k, v in values.items() if k != 0x07})
    with pytest.raises(TlvError, match="not a YYYYMMDD"):
        BasicCardData.from_values({**values, 0x05: bytes.fromhex("20241399")})
    with pytest.raises(TlvError, match="spec version"):
        BasicCardData.from_values({**values, 0x03: b"9.99"})


@given(st.binary(max_size=40))
def test_record_decoder_never_fails_with_anything_but_tlv_error(raw: bytes) -> None:
    try:
        values = values_by_tag([raw])
        HolderData.from_values(values)
    except TlvError:
        pass
