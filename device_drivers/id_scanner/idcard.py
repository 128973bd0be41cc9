"""The content of a second-generation ID card: the 256-byte text as typed fields.

The text is UTF-16LE, each field space-padded to a fixed width (DOMAIN.md §9). The
ID number is checked (GB 11643) and cross-checked against the birth date and gender
fields before a card is handed to anyone, so a misread never reaches the backend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from device_drivers.id_scanner.errors import InvalidCardDataError
from national_codes import IdNumberError, parse_id_number

TEXT_BYTES = 256
PHOTO_BYTES = 1024
#: What the card says instead of an end date for a card valid for life.
LONG_TERM = "长期"

#: Field → (first byte, end byte) in the text block.
TEXT_LAYOUT: dict[str, tuple[int, int]] = {
    "name": (0, 30),
    "gender": (30, 32),
    "ethnicity": (32, 36),
    "birth_date": (36, 52),
    "address": (52, 122),
    "id_number": (122, 158),
    "issuing_authority": (158, 188),
    "valid_from": (188, 204),
    "valid_to": (204, 220),
}


@dataclass(frozen=True)
class IdCard:
    """One ID card as read: typed text fields and the photo's WLT bytes."""

    name: str
    gender: str  # GB/T 2261.1: "1" male, "2" female
    ethnicity: str  # GB 3304 two-digit code, "01" Han
    birth_date: dt.date
    address: str
    id_number: str
    issuing_authority: str
    valid_from: dt.date
    valid_to: dt.date | None  # None: 长期 (valid for life)
    photo_wlt: bytes = field(default=bytes(PHOTO_BYTES), repr=False)

    def is_valid_on(self, day: dt.date) -> bool:
        """Tell whether the card is within its validity period on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _field(text: bytes, name: str) -> str:
    start, end = TEXT_LAYOUT[name]
    try:
        return text[start:end].decode("utf-16-le").rstrip(" \x00")
    except UnicodeDecodeError as exc:
        raise InvalidCardDataError(f"证件文字信息无法解码（{name}）") from exc


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidCardDataError(f"证件{name}日期无效：{value!r}") from exc


def parse_card_text(text: bytes, photo_wlt: bytes) -> IdCard:
    """Turn the 256-byte text block into an :class:`IdCard`, checking the ID number."""
    if len(text) != TEXT_BYTES:
        raise InvalidCardDataError(f"证件文字信息应为{TEXT_BYTES}字节，实际{len(text)}字节")
    fields = {name: _field(text, name) for name in TEXT_LAYOUT}
    try:
        id_number = parse_id_number(fields["id_number"])
    except IdNumberError as exc:
        raise InvalidCardDataError(f"证件中的身份证号码无效：{exc}") from exc
    birth_date = _date(fields["birth_date"], "出生")
    if birth_date != id_number.birth_date or fields["gender"] != id_number.gender:
        raise InvalidCardDataError("证件的出生日期或性别与身份证号码不一致")
    valid_to = fields["valid_to"]
    return IdCard(
        name=fields["name"],
        gender=fields["gender"],
        ethnicity=fields["ethnicity"],
        birth_date=birth_date,
        address=fields["address"],
        id_number=id_number.value,
        issuing_authority=fields["issuing_authority"],
        valid_from=_date(fields["valid_from"], "有效期起始"),
        valid_to=None if valid_to == LONG_TERM else _date(valid_to, "有效期截止"),
        photo_wlt=photo_wlt,
    )


def parse_read_reply(data: bytes) -> IdCard:
    """Parse the data of a read-text-and-photo reply: two lengths, text, photo."""
    if len(data) < 4:
        raise InvalidCardDataError("读卡应答缺少文字和照片长度")
    text_length = int.from_bytes(data[0:2], "big")
    photo_length = int.from_bytes(data[2:4], "big")
    if text_length != TEXT_BYTES or photo_length != PHOTO_BYTES:
        raise InvalidCardDataError(
            f"读卡应答长度异常：文字{text_length}字节，照片{photo_length}字节"
        )
    if len(data) != 4 + text_length + photo_length:
        raise InvalidCardDataError(f"读卡应答应为{4 + text_length + photo_length}字节")
    return parse_card_text(data[4 : 4 + text_length], data[4 + text_length :])


def encode_card_text(card: IdCard) -> bytes:
    """The 256-byte text block of ``card`` (the simulator's side of the read)."""
    values = {
        "name": card.name,
        "gender": card.gender,
        "ethnicity": card.ethnicity,
        "birth_date": f"{card.birth_date:%Y%m%d}",
        "address": card.address,
        "id_number": card.id_number,
        "issuing_authority": card.issuing_authority,
        "valid_from": f"{card.valid_from:%Y%m%d}",
        "valid_to": LONG_TERM if card.valid_to is None else f"{card.valid_to:%Y%m%d}",
    }
    text = bytearray(" ".encode("utf-16-le") * (TEXT_BYTES // 2))
    for name, (start, end) in TEXT_LAYOUT.items():
        encoded = values[name].encode("utf-16-le")
        if len(encoded) > end - start:
            raise ValueError(f"{name} {values[name]!r} does not fit in {end - start} bytes")
        text[start : start + len(encoded)] = encoded
    return bytes(text)


def encode_read_reply_data(card: IdCard) -> bytes:
    """The data of a read-text-and-photo reply for ``card``."""
    if len(card.photo_wlt) != PHOTO_BYTES:
        raise ValueError(f"photo must be {PHOTO_BYTES} bytes")
    return (
        TEXT_BYTES.to_bytes(2, "big")
        + PHOTO_BYTES.to_bytes(2, "big")
        + encode_card_text(card)
        + card.photo_wlt
    )
