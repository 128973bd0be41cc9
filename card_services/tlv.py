"""Records as the card stores them: ``tag(1) len(1) value``, and the value codecs.

``cn`` values are packed decimal digits padded with ``F`` nibbles, ``an`` values are
ASCII padded with ``00``, names are GBK padded with ``00``.
"""

from __future__ import annotations

from dataclasses import dataclass

from card_services.errors import TlvError


@dataclass(frozen=True)
class TlvRecord:
    """One record: a one-byte tag and its value."""

    tag: int
    value: bytes

    def to_bytes(self) -> bytes:
        """Encode as ``tag len value``."""
        if not 0 < self.tag < 0xFF:
            raise TlvError(f"tag {self.tag:#x} is not a one-byte record tag")
        if len(self.value) > 0xFF:
            raise TlvError(f"value of {len(self.value)} bytes is too long for one record")
        return bytes((self.tag, len(self.value))) + self.value


def parse_record(raw: bytes, *, expected_tag: int | None = None) -> TlvRecord:
    """Decode one record, refusing truncated or over-long bytes and (if given) another tag."""
    if len(raw) < 2:
        raise TlvError(f"record of {len(raw)} bytes is truncated before its length byte")
    tag, length = raw[0], raw[1]
    if len(raw) != 2 + length:
        raise TlvError(f"record tag {tag:02X} says {length} bytes but carries {len(raw) - 2}")
    if expected_tag is not None and tag != expected_tag:
        raise TlvError(f"expected tag {expected_tag:02X}, card returned {tag:02X}")
    return TlvRecord(tag, raw[2:])


def encode_cn(digits: str, length: int) -> bytes:
    """Pack decimal digits into ``length`` bytes, two per byte, padding with ``F``."""
    if not digits.isascii() or not digits.isdigit():
        raise TlvError(f"cn value {digits!r} must be decimal digits")
    if len(digits) > 2 * length:
        raise TlvError(f"cn value of {len(digits)} digits does not fit {length} bytes")
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(value: bytes) -> str:
    """Unpack decimal digits, stopping at the ``F`` padding; refuse other nibbles."""
    text = value.hex().upper()
    digits = text.rstrip("F")
    if not digits.isdigit() and digits:
        raise TlvError(f"cn value {text} holds non-decimal nibbles")
    return digits


def encode_an(text: str, length: int) -> bytes:
    """ASCII text padded to ``length`` bytes with ``00``."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise TlvError(f"an value {text!r} must be ASCII") from exc
    if len(raw) > length:
        raise TlvError(f"an value {text!r} is longer than {length} bytes")
    return raw.ljust(length, b"\x00")


def decode_an(value: bytes) -> str:
    """ASCII text with the ``00`` padding removed."""
    stripped = value.rstrip(b"\x00")
    if b"\x00" in stripped:
        raise TlvError("an value has a 00 byte before its end")
    try:
        return stripped.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TlvError(f"an value {value.hex()} is not ASCII") from exc


def encode_gbk(text: str) -> bytes:
    """GBK bytes of a name (unpadded; the caller splits across records)."""
    try:
        return text.encode("gbk")
    except UnicodeEncodeError as exc:
        raise TlvError(f"name {text!r} has characters outside GBK") from exc


def decode_gbk(value: bytes) -> str:
    """A GBK name with the ``00`` padding removed."""
    try:
        return value.rstrip(b"\x00").decode("gbk")
    except UnicodeDecodeError as exc:
        raise TlvError(f"name bytes {value.hex()} are not valid GBK") from exc
