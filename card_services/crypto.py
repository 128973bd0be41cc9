"""Card cryptography: SM4 and 3DES blocks, the card MAC, key diversification, PIN blocks.

MAC (DOMAIN.md §8): ISO/IEC 9797-1 padding method 2 (``80 00…``), CBC with the
initial vector taken from the card challenge, first 4 bytes kept. For 3DES cards the
chain runs single DES under the left key half and ends with the full key (ISO 9797-1
MAC algorithm 3, the "retail MAC" of PBOC cards); for SM4 cards it is plain CBC-MAC.

Key diversification: one level turns a master key and 8 bytes of card data ``d``
into ``E(K, d) || E(K, ~d)`` (3DES) or ``E(K, d || ~d)`` (SM4); two or three levels
repeat this with further data, the result of one level keying the next.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from card_services.errors import CardCryptoError

MAC_LENGTH: Final = 4
DIVERSIFICATION_DATA_LENGTH: Final = 8
MAX_DIVERSIFICATION_LEVELS: Final = 3


class BlockCipher(Protocol):
    """A 16-byte-key block cipher as the card uses it."""

    @property
    def name(self) -> str:
        """Algorithm name, e.g. ``"SM4"``."""
        ...

    @property
    def block_size(self) -> int:
        """Block length in bytes (8 or 16)."""
        ...

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-encrypt whole blocks."""
        ...

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-decrypt whole blocks."""
        ...

    def mac(self, key: bytes, data: bytes, *, iv: bytes) -> bytes:
        """The 4-byte card MAC of ``data`` (padded here) with initial vector ``iv``."""
        ...


def _check(key: bytes, data: bytes, block_size: int) -> None:
    if len(key) != 16:
        raise CardCryptoError(f"card keys are 16 bytes, got {len(key)}")
    if len(data) % block_size:
        raise CardCryptoError(f"data of {len(data)} bytes is not whole {block_size}-byte blocks")


def pad_method_2(data: bytes, block_size: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2: append ``80`` then ``00`` to a whole block."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % block_size)


def _fit_iv(iv: bytes, block_size: int) -> bytes:
    # An 8-byte challenge keys a 16-byte SM4 chain by zero-extension, as PSAMs do.
    return iv[:block_size].ljust(block_size, b"\x00")


@dataclass(frozen=True)
class Sm4Cipher:
    """SM4 (GB/T 32907), used by generation-3 cards."""

    name: str = "SM4"
    block_size: int = 16

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-encrypt whole 16-byte blocks."""
        _check(key, data, self.block_size)
        return Cipher(algorithms.SM4(key), modes.ECB()).encryptor().update(data)

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-decrypt whole 16-byte blocks."""
        _check(key, data, self.block_size)
        return Cipher(algorithms.SM4(key), modes.ECB()).decryptor().update(data)

    def mac(self, key: bytes, data: bytes, *, iv: bytes) -> bytes:
        """CBC-MAC under SM4 (ISO 9797-1 algorithm 1), 4 bytes."""
        padded = pad_method_2(data, self.block_size)
        _check(key, padded, self.block_size)
        encryptor = Cipher(algorithms.SM4(key), modes.CBC(_fit_iv(iv, 16))).encryptor()
        return encryptor.update(padded)[-16:][:MAC_LENGTH]


@dataclass(frozen=True)
class TripleDesCipher:
    """Two-key 3DES (EDE), used by generation-1 and -2 cards."""

    name: str = "3DES"
    block_size: int = 8

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-encrypt whole 8-byte blocks."""
        _check(key, data, self.block_size)
        return Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor().update(data)

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB-decrypt whole 8-byte blocks."""
        _check(key, data, self.block_size)
        return Cipher(TripleDES(key + key[:8]), modes.ECB()).decryptor().update(data)

    def mac(self, key: bytes, data: bytes, *, iv: bytes) -> bytes:
        """Retail MAC (ISO 9797-1 algorithm 3) of ``data`` padded with method 2."""
        return retail_mac(key, pad_method_2(data, self.block_size), iv=iv)


def retail_mac(key: bytes, padded: bytes, *, iv: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 over already padded data: DES-CBC under KL, then
    DES⁻¹ under KR and DES under KL on the last block; 4 bytes."""
    _check(key, padded, 8)
    chain = Cipher(TripleDES(key[:8] * 3), modes.CBC(_fit_iv(iv, 8))).encryptor().update(padded)
    decrypted = Cipher(TripleDES(key[8:] * 3), modes.ECB()).decryptor().update(chain[-8:])
    final = Cipher(TripleDES(key[:8] * 3), modes.ECB()).encryptor().update(decrypted)
    return final[:MAC_LENGTH]


SM4: Final = Sm4Cipher()
TRIPLE_DES: Final = TripleDesCipher()


def verify_mac(cipher: BlockCipher, key: bytes, data: bytes, *, iv: bytes, mac: bytes) -> bool:
    """Compare a received MAC in constant time."""
    return hmac.compare_digest(cipher.mac(key, data, iv=iv), mac)


def diversify_key(cipher: BlockCipher, master_key: bytes, path: Sequence[bytes]) -> bytes:
    """Derive a card key from a master key and one to three 8-byte diversification values."""
    if not 1 <= len(path) <= MAX_DIVERSIFICATION_LEVELS:
        raise CardCryptoError(f"diversification takes 1 to 3 levels, got {len(path)}")
    key = master_key
    for data in path:
        if len(data) != DIVERSIFICATION_DATA_LENGTH:
            raise CardCryptoError(f"diversification data must be 8 bytes, got {len(data)}")
        complement = bytes(b ^ 0xFF for b in data)
        if cipher.block_size == 16:
            key = cipher.encrypt(key, data + complement)
        else:
            key = cipher.encrypt(key, data) + cipher.encrypt(key, complement)
    return key


def pin_block(pin: str, block_size: int) -> bytes:
    """A PIN as the card stores it encrypted: length byte, BCD digits, ``F`` padding."""
    if not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise CardCryptoError("a PIN is 4 to 12 decimal digits")
    digits = pin + "F" * (len(pin) % 2)
    return (bytes((len(pin),)) + bytes.fromhex(digits)).ljust(block_size, b"\xff")


def pin_from_block(block: bytes) -> str:
    """Read a PIN back from a decrypted PIN block."""
    if not block or not 4 <= block[0] <= 12:
        raise CardCryptoError("PIN block has no valid length byte")
    digits = block[1:].hex().upper()[: block[0]]
    if not digits.isdigit():
        raise CardCryptoError("PIN block holds non-decimal digits")
    return digits


def encode_pin(pin: str) -> bytes:
    """A PIN as VERIFY sends it: BCD digits, an odd count padded with ``F``."""
    if not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise CardCryptoError("a PIN is 4 to 12 decimal digits")
    return bytes.fromhex(pin + "F" * (len(pin) % 2))
