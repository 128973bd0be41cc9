"""Builders for every command APDU the library sends, and the MAC each secured one carries."""

from __future__ import annotations

from typing import Final

from card_services.apdu import CommandApdu
from card_services.crypto import MAC_LENGTH, BlockCipher, encode_pin, pin_block
from card_services.layout import SSSE_AID

INS_SELECT: Final = 0xA4
INS_READ_RECORD: Final = 0xB2
INS_UPDATE_RECORD: Final = 0xDC
INS_GET_CHALLENGE: Final = 0x84
INS_GET_RESPONSE: Final = 0xC0
INS_INTERNAL_AUTHENTICATE: Final = 0x88
INS_EXTERNAL_AUTHENTICATE: Final = 0x82
INS_VERIFY: Final = 0x20
INS_CHANGE_PIN: Final = 0x5E
INS_RESET_RETRY_COUNTER: Final = 0x2C
INS_WRITE_KEY: Final = 0xD4
INS_END_PERSONALISATION: Final = 0xE6

CLA_ISO: Final = 0x00
CLA_SECURED: Final = 0x04
CLA_PROPRIETARY: Final = 0x80
CLA_PROPRIETARY_SECURED: Final = 0x84

#: P1 of the personalisation WRITE KEY command: a key, or the PIN.
WRITE_KEY_P1_KEY: Final = 0x00
WRITE_KEY_P1_PIN: Final = 0x01


def select_ssse() -> CommandApdu:
    """SELECT the social-insurance environment by name (returns its FCI)."""
    return CommandApdu(CLA_ISO, INS_SELECT, 0x04, 0x00, SSSE_AID, le=256)


def select_file(fid: int) -> CommandApdu:
    """SELECT a file by its 2-byte id under the current DF (``00 A4 02 00 02 fid``)."""
    return CommandApdu(CLA_ISO, INS_SELECT, 0x02, 0x0C, fid.to_bytes(2, "big"))


def select_df(fid: int) -> CommandApdu:
    """SELECT a DF by its 2-byte id under the current DF."""
    return CommandApdu(CLA_ISO, INS_SELECT, 0x01, 0x0C, fid.to_bytes(2, "big"))


def read_record(number: int, *, sfi: int = 0, le: int = 256) -> CommandApdu:
    """READ RECORD by number, from the current EF or (``sfi``) without selecting it."""
    return CommandApdu(CLA_ISO, INS_READ_RECORD, number, (sfi << 3) | 0x04, le=le)


def read_record_by_tag(tag: int, *, sfi: int = 0, le: int = 256) -> CommandApdu:
    """READ RECORD by its tag (first occurrence), from the current EF or by ``sfi``."""
    return CommandApdu(CLA_ISO, INS_READ_RECORD, tag, sfi << 3, le=le)


def get_challenge(length: int) -> CommandApdu:
    """GET CHALLENGE of ``length`` bytes (8 on 3DES cards, 16 on SM4 cards)."""
    return CommandApdu(CLA_ISO, INS_GET_CHALLENGE, 0x00, 0x00, le=length)


def internal_authenticate(random: bytes) -> CommandApdu:
    """INTERNAL AUTHENTICATE: the card encrypts the terminal's random."""
    return CommandApdu(CLA_ISO, INS_INTERNAL_AUTHENTICATE, 0x00, 0x00, random, le=len(random))


def external_authenticate(key_id: int, cryptogram: bytes) -> CommandApdu:
    """EXTERNAL AUTHENTICATE with key ``key_id``: the terminal's encrypted challenge."""
    return CommandApdu(CLA_ISO, INS_EXTERNAL_AUTHENTICATE, 0x00, key_id, cryptogram)


def verify_pin(pin: str) -> CommandApdu:
    """VERIFY the holder's PIN."""
    return CommandApdu(CLA_ISO, INS_VERIFY, 0x00, 0x00, encode_pin(pin))


def pin_tries_query() -> CommandApdu:
    """VERIFY without data: the card answers ``63Cx`` with the tries left."""
    return CommandApdu(CLA_ISO, INS_VERIFY, 0x00, 0x00)


def change_pin(old_pin: str, new_pin: str) -> CommandApdu:
    """CHANGE PIN (PBOC form): old PIN, ``FF``, new PIN."""
    data = encode_pin(old_pin) + b"\xff" + encode_pin(new_pin)
    return CommandApdu(CLA_PROPRIETARY, INS_CHANGE_PIN, 0x01, 0x00, data)


def secured_mac_input(cla: int, ins: int, p1: int, p2: int, body: bytes) -> bytes:
    """What a secured command's MAC covers: header, Lc counting the MAC, and the data."""
    return bytes((cla, ins, p1, p2, len(body) + MAC_LENGTH)) + body


def _secured(
    cipher: BlockCipher,
    key: bytes,
    header: tuple[int, int, int, int],
    body: bytes,
    *,
    iv: bytes,
    prefix: bytes = b"",
) -> CommandApdu:
    cla, ins, p1, p2 = header
    mac = cipher.mac(key, prefix + secured_mac_input(cla, ins, p1, p2, body), iv=iv)
    return CommandApdu(cla, ins, p1, p2, body + mac)


def unblock_pin(
    cipher: BlockCipher, pin_unblock_key: bytes, new_pin: str, *, challenge: bytes
) -> CommandApdu:
    """PIN unblock (RESET RETRY COUNTER): new PIN block encrypted and MACed under the key."""
    encrypted = cipher.encrypt(pin_unblock_key, pin_block(new_pin, cipher.block_size))
    header = (CLA_PROPRIETARY_SECURED, INS_RESET_RETRY_COUNTER, 0x00, 0x00)
    return _secured(cipher, pin_unblock_key, header, encrypted, iv=challenge)


def update_record_secured(
    cipher: BlockCipher,
    update_key: bytes,
    *,
    number: int,
    record: bytes,
    challenge: bytes,
    sfi: int = 0,
) -> CommandApdu:
    """UPDATE RECORD with secure messaging: the record and a MAC keyed from the challenge."""
    header = (CLA_SECURED, INS_UPDATE_RECORD, number, (sfi << 3) | 0x04)
    return _secured(cipher, update_key, header, record, iv=challenge)


def personalisation_command(
    cipher: BlockCipher,
    transport_key: bytes,
    *,
    counter: int,
    ins: int,
    p1: int,
    p2: int,
    body: bytes,
) -> CommandApdu:
    """A personalisation command MACed under the transport key, bound to its position.

    The MAC covers the 2-byte command counter, so a script cannot be reordered or
    partly replayed, and its initial vector is zero, so the issuer can build the whole
    script offline.
    """
    zero_iv = bytes(cipher.block_size)
    header = (CLA_PROPRIETARY_SECURED, ins, p1, p2)
    return _secured(
        cipher, transport_key, header, body, iv=zero_iv, prefix=counter.to_bytes(2, "big")
    )
