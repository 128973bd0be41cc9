"""Typed EF05 (basic card data) and EF06 (holder data), encoded as the card stores them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from card_services.errors import TlvError
from card_services.tlv import (
    TlvRecord,
    decode_an,
    decode_cn,
    decode_gbk,
    encode_an,
    encode_cn,
    encode_gbk,
    parse_record,
)

TAG_IDENTIFICATION_CODE: Final = 0x01
TAG_CARD_TYPE: Final = 0x02
TAG_SPEC_VERSION: Final = 0x03
TAG_INITIALISING_ORG: Final = 0x04
TAG_ISSUE_DATE: Final = 0x05
TAG_EXPIRY_DATE: Final = 0x06
TAG_CARD_NUMBER: Final = 0x07
TAG_SOCIAL_SECURITY_NUMBER: Final = 0x08
TAG_NAME: Final = 0x09
TAG_NAME_EXTENSION: Final = 0x4E
TAG_GENDER: Final = 0x0A
TAG_ETHNICITY: Final = 0x0B
TAG_BIRTHPLACE: Final = 0x0C
TAG_BIRTH_DATE: Final = 0x0D

#: Value length of every tag, from the card specification (DOMAIN.md §8).
TAG_LENGTHS: Final[dict[int, int]] = {
    TAG_IDENTIFICATION_CODE: 16,
    TAG_CARD_TYPE: 1,
    TAG_SPEC_VERSION: 4,
    TAG_INITIALISING_ORG: 12,
    TAG_ISSUE_DATE: 4,
    TAG_EXPIRY_DATE: 4,
    TAG_CARD_NUMBER: 9,
    TAG_SOCIAL_SECURITY_NUMBER: 18,
    TAG_NAME: 30,
    TAG_NAME_EXTENSION: 20,
    TAG_GENDER: 1,
    TAG_ETHNICITY: 1,
    TAG_BIRTHPLACE: 3,
    TAG_BIRTH_DATE: 4,
}

EF05_TAGS: Final = (
    TAG_IDENTIFICATION_CODE,
    TAG_CARD_TYPE,
    TAG_SPEC_VERSION,
    TAG_INITIALISING_ORG,
    TAG_ISSUE_DATE,
    TAG_EXPIRY_DATE,
    TAG_CARD_NUMBER,
)
#: EF06 tags in record order; the name extension exists on generation 2 and 3 cards.
EF06_TAGS: Final = (
    TAG_SOCIAL_SECURITY_NUMBER,
    TAG_NAME,
    TAG_NAME_EXTENSION,
    TAG_GENDER,
    TAG_ETHNICITY,
    TAG_BIRTHPLACE,
    TAG_BIRTH_DATE,
)
SPEC_VERSIONS: Final = ("1.00", "2.00", "3.00")


def _encode_date(value: date) -> bytes:
    return encode_cn(value.strftime("%Y%m%d"), 4)


def _decode_date(raw: bytes, what: str) -> date:
    digits = decode_cn(raw)
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError as exc:
        raise TlvError(f"{what} {digits!r} is not a YYYYMMDD date") from exc


def _decode_digits(raw: bytes, *, count: int, what: str) -> str:
    digits = decode_cn(raw)
    if len(digits) != count:
        raise TlvError(f"{what} must have {count} digits, card holds {digits!r}")
    return digits


@dataclass(frozen=True)
class BasicCardData:
    """EF05: what the card is (identification code, type, spec version, dates, number)."""

    identification_code: bytes
    card_type: str
    spec_version: str
    initialising_org: str
    issue_date: date
    expiry_date: date
    card_number: str

    @property
    def issuing_region(self) -> str:
        """The 6-digit region code that opens the identification code."""
        return decode_cn(self.identification_code[:3])

    def to_records(self) -> list[TlvRecord]:
        """Encode as the seven EF05 records, in record order."""
        if len(self.identification_code) != 16:
            raise TlvError("identification code must be 16 bytes")
        if self.spec_version not in SPEC_VERSIONS:
            raise TlvError(f"spec version {self.spec_version!r} is not one of {SPEC_VERSIONS}")
        if len(self.card_number) != 9:
            raise TlvError(f"card number {self.card_number!r} must be 9 characters")
        return [
            TlvRecord(TAG_IDENTIFICATION_CODE, self.identification_code),
            TlvRecord(TAG_CARD_TYPE, encode_an(self.card_type, 1)),
            TlvRecord(TAG_SPEC_VERSION, encode_an(self.spec_version, 4)),
            TlvRecord(TAG_INITIALISING_ORG, encode_cn(self.initialising_org, 12)),
            TlvRecord(TAG_ISSUE_DATE, _encode_date(self.issue_date)),
            TlvRecord(TAG_EXPIRY_DATE, _encode_date(self.expiry_date)),
            TlvRecord(TAG_CARD_NUMBER, encode_an(self.card_number, 9)),
        ]

    @classmethod
    def from_values(cls, values: Mapping[int, bytes]) -> BasicCardData:
        """Decode from record values keyed by tag (as read by tag or by number)."""
        _require(values, EF05_TAGS)
        spec_version = decode_an(values[TAG_SPEC_VERSION])
        if spec_version not in SPEC_VERSIONS:
            raise TlvError(f"unknown spec version {spec_version!r}")
        return cls(
            identification_code=values[TAG_IDENTIFICATION_CODE],
            card_type=decode_an(values[TAG_CARD_TYPE]),
            spec_version=spec_version,
            initialising_org=decode_cn(values[TAG_INITIALISING_ORG]),
            issue_date=_decode_date(values[TAG_ISSUE_DATE], "issue date"),
            expiry_date=_decode_date(values[TAG_EXPIRY_DATE], "expiry date"),
            card_number=decode_an(values[TAG_CARD_NUMBER]),
        )


@dataclass(frozen=True)
class HolderData:
    """EF06: who holds the card."""

    social_security_number: str
    name: str
    gender: str
    ethnicity: str
    birthplace: str
    birth_date: date

    def to_records(self, *, name_extension: bool) -> list[TlvRecord]:
        """Encode as EF06 records; long names spill into tag 4E when ``name_extension``."""
        if len(self.social_security_number) != 18:
            raise TlvError("social security number must be 18 characters")
        if len(self.ethnicity) != 2 or len(self.birthplace) != 6:
            raise TlvError("ethnicity must be 2 digits and birthplace 6 digits")
        name = encode_gbk(self.name)
        base_length = TAG_LENGTHS[TAG_NAME]
        room = base_length + (TAG_LENGTHS[TAG_NAME_EXTENSION] if name_extension else 0)
        if len(name) > room:
            raise TlvError(f"name of {len(name)} GBK bytes does not fit {room} bytes")
        records = [
            TlvRecord(TAG_SOCIAL_SECURITY_NUMBER, encode_an(self.social_security_number, 18)),
            TlvRecord(TAG_NAME, name[:base_length].ljust(base_length, b"\x00")),
        ]
        if name_extension:
            extension = name[base_length:].ljust(TAG_LENGTHS[TAG_NAME_EXTENSION], b"\x00")
            records.append(TlvRecord(TAG_NAME_EXTENSION, extension))
        records += [
            TlvRecord(TAG_GENDER, encode_an(self.gender, 1)),
            TlvRecord(TAG_ETHNICITY, encode_cn(self.ethnicity, 1)),
            TlvRecord(TAG_BIRTHPLACE, encode_cn(self.birthplace, 3)),
            TlvRecord(TAG_BIRTH_DATE, _encode_date(self.birth_date)),
        ]
        return records

    @classmethod
    def from_values(cls, values: Mapping[int, bytes]) -> HolderData:
        """Decode from record values keyed by tag; tag 4E is optional."""
        _require(values, tuple(t for t in EF06_TAGS if t != TAG_NAME_EXTENSION))
        name_bytes = values[TAG_NAME].rstrip(b"\x00")
        if TAG_NAME_EXTENSION in values:
            name_bytes += values[TAG_NAME_EXTENSION]
        return cls(
            social_security_number=decode_an(values[TAG_SOCIAL_SECURITY_NUMBER]),
            name=decode_gbk(name_bytes),
            gender=decode_an(values[TAG_GENDER]),
            ethnicity=_decode_digits(values[TAG_ETHNICITY], count=2, what="ethnicity"),
            birthplace=_decode_digits(values[TAG_BIRTHPLACE], count=6, what="birthplace"),
            birth_date=_decode_date(values[TAG_BIRTH_DATE], "birth date"),
        )


def _require(values: Mapping[int, bytes], tags: Sequence[int]) -> None:
    missing = [f"{tag:02X}" for tag in tags if tag not in values]
    if missing:
        raise TlvError(f"records missing for tags {', '.join(missing)}")


def values_by_tag(raw_records: Sequence[bytes]) -> dict[int, bytes]:
    """Decode raw records into ``{tag: value}``, checking each tag's specified length."""
    values: dict[int, bytes] = {}
    for raw in raw_records:
        record = parse_record(raw)
        expected = TAG_LENGTHS.get(record.tag)
        if expected is None:
            raise TlvError(f"unknown tag {record.tag:02X}")
        if len(record.value) != expected:
            raise TlvError(
                f"tag {record.tag:02X} must hold {expected} bytes, card holds {len(record.value)}"
            )
        values[record.tag] = record.value
    return values
