"""SM4, 3DES, the card MAC and key diversification, against published vectors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from card_services import GENERATION_2, GENERATION_3, derive_card_keys, diversification_path
from card_services.crypto import (
    SM4,
    TRIPLE_DES,
    diversify_key,
    encode_pin,
    pad_method_2,
    pin_block,
    pin_from_block,
    retail_mac,
    verify_mac,
)
from card_services.demo import DEMO_MASTER_KEYS
from card_services.errors import CardCryptoError


def test_sm4_matches_gb_t_32907_example() -> None:
    # GB/T 32907-2016 Appendix A, example 1: key = plaintext.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert SM4.encrypt(key, key) == bytes.fromhex("681edf34d206965e86b3e94f536e4246")
    assert SM4.decrypt(key, bytes.fromhex("681edf34d206965e86b3e94f536e4246")) == key


def test_triple_des_matches_nist_sp800_67_example() -> None:
    # NIST SP 800-67 Rev.1 example, first block; 3DES with K1 = K3 is the two-key case.
    key = bytes.fromhex("0123456789ABCDEF23456789ABCDEF01")
    three_key = key + bytes.fromhex("456789ABCDEF0123")
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

    expected = Cipher(TripleDES(three_key), modes.ECB()).encryptor().update(b"The qufc")
    assert expected == bytes.fromhex("A826FD8CE53B855F")
    two_key = Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor().update(b"The qufc")
    assert TRIPLE_DES.encrypt(key, b"The qufc") == two_key


def test_retail_mac_matches_iso_9797_1_annex_b() -> None:
    # ISO/IEC 9797-1 Annex B, MAC algorithm 3, padding method 1 (data is whole blocks).
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    mac = retail_mac(key, b"Now is the time for all ", iv=bytes(8))
    assert mac == bytes.fromhex("A1C72E74")


def test_sm4_mac_is_cbc_mac_over_method_2_padding() -> None:
    key = bytes(range(16))
    iv = bytes(range(16, 32))
    data = b"\x04\xdc\x01\x3c\x26" + b"\x71" * 7
    padded = pad_method_2(data, 16)
    assert padded == data + b"\x80" + bytes(3)
    reference = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor().update(padded)[-16:][:4]
    assert SM4.mac(key, data, iv=iv) == reference
    assert verify_mac(SM4, key, data, iv=iv, mac=reference)
    assert not verify_mac(SM4, key, data + b"\x00", iv=iv, mac=reference)


@given(data=st.binary(max_size=64), flip=st.integers(0, 63))
def test_mac_changes_when_any_byte_changes(data: bytes, flip: int) -> None:
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    if not data:
        return
    tampered = bytearray(data)
    tampered[flip % len(data)] ^= 0x01
    for cipher in (SM4, TRIPLE_DES):
        assert cipher.mac(key, data, iv=bytes(8)) != cipher.mac(key, bytes(tampered), iv=bytes(8))


def test_wrong_key_and_block_lengths_raise() -> None:
    with pytest.raises(CardCryptoError):
        SM4.encrypt(bytes(8), bytes(16))
    with pytest.raises(CardCryptoError):
        TRIPLE_DES.encrypt(bytes(16), bytes(5))


def test_one_level_diversification_is_pboc_style_for_3des() -> None:
    master = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    data = bytes.fromhex("1122334455667788")
    left = TRIPLE_DES.encrypt(master, data)
    right = TRIPLE_DES.encrypt(master, bytes(b ^ 0xFF for b in data))
    assert diversify_key(TRIPLE_DES, master, [data]) == left + right


def test_one_level_diversification_for_sm4_encrypts_data_and_complement() -> None:
    master = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    data = bytes.fromhex("1122334455667788")
    complement = bytes(b ^ 0xFF for b in data)
    assert diversify_key(SM4, master, [data]) == SM4.encrypt(master, data + complement)


def test_each_level_keys_the_next() -> None:
    master = bytes(16)
    a, b = b"A" * 8, b"B" * 8
    assert diversify_key(SM4, master, [a, b]) == diversify_key(
        SM4, diversify_key(SM4, master, [a]), [b]
    )
    with pytest.raises(CardCryptoError):
        diversify_key(SM4, master, [a, a, a, a])
    with pytest.raises(CardCryptoError):
        diversify_key(SM4, master, [b"short"])


def test_card_keys_differ_per_card_and_per_level() -> None:
    code_a = bytes.fromhex("654226") + bytes(12) + b"\x01"
    code_b = bytes.fromhex("654226") + bytes(12) + b"\x02"
    keys_a = derive_card_keys(
        DEMO_MASTER_KEYS, application=GENERATION_3, identification_code=code_a
    )
    keys_b = derive_card_keys(
        DEMO_MASTER_KEYS, application=GENERATION_3, identification_code=code_b
    )
    assert keys_a.read != keys_b.read
    assert len({keys_a.read, keys_a.internal_auth, keys_a.update, keys_a.pin_unblock}) == 4
    one_level = derive_card_keys(
        DEMO_MASTER_KEYS, application=GENERATION_2, identification_code=code_a, levels=1
    )
    assert one_level.read != keys_a.read
    assert "secret" in repr(keys_a)
    assert [len(p) for p in diversification_path(code_a, levels=3)] == [8, 8, 8]


def test_pin_encodings() -> None:
    assert encode_pin("123456") == bytes.fromhex("123456")
    assert encode_pin("12345") == bytes.fromhex("12345F")
    assert pin_block("1234", 8) == bytes.fromhex("041234FFFFFFFFFF")
    assert pin_from_block(pin_block("98765", 16)) == "98765"
    for bad in ("12", "12a456", "1" * 13):
        with pytest.raises(CardCryptoError):
            encode_pin(bad)
