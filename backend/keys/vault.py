"""The key vault interface: what the backend may ask of whoever holds the master keys.

A PKCS#11 hardware security module implements the same methods with keys that never
leave the device; :class:`backend.keys.local.LocalKeyVault` keeps them in a
passphrase-encrypted file instead. Callers name a card by its generation, the key
version it was personalised under and its identification code; the vault derives the
card's keys inside and returns only cryptograms, MACed commands and check values.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from card_services import (
    GENERATION_1,
    GENERATION_2,
    GENERATION_3,
    PersonalisationData,
    PersonalisationScript,
    SocialSecurityApplication,
)
from card_services.crypto import BlockCipher


class KeyFamily(StrEnum):
    """Master keys come in one set per algorithm: 3DES (generations 1–2) and SM4 (3)."""

    TRIPLE_DES = "3des"
    SM4 = "sm4"


FAMILY_OF_GENERATION: Final[dict[int, KeyFamily]] = {
    1: KeyFamily.TRIPLE_DES,
    2: KeyFamily.TRIPLE_DES,
    3: KeyFamily.SM4,
}
APPLICATION_OF_GENERATION: Final[dict[int, SocialSecurityApplication]] = {
    1: GENERATION_1,
    2: GENERATION_2,
    3: GENERATION_3,
}
#: Which master key of a set a check value belongs to.
KEY_NAMES: Final = ("read", "internal_auth", "update", "pin_unblock", "transport")


class VaultError(Exception):
    """The vault cannot do what was asked (wrong passphrase, no such key version, damage)."""


@dataclass(frozen=True)
class KeyCheckValue:
    """The public fingerprint of one master key: its cipher applied to a zero block."""

    family: KeyFamily
    version: int
    key_name: str
    kcv: str
    active: bool


def key_check_value(cipher: BlockCipher, key: bytes) -> str:
    """The usual 3-byte key check value (the key encrypting a zero block), in hex."""
    return cipher.encrypt(key, bytes(cipher.block_size))[:3].hex().upper()


def application_of(generation: int) -> SocialSecurityApplication:
    """The card application of a generation, or ``VaultError``."""
    try:
        return APPLICATION_OF_GENERATION[generation]
    except KeyError as exc:
        raise VaultError(f"no card generation {generation}") from exc


class KeyVault(ABC):
    """Master keys by family and version; only derived results come out."""

    #: The province whose issuer keys these are (2-digit code).
    province_code: str

    @abstractmethod
    def active_version(self, family: KeyFamily) -> int:
        """The key version new cards of ``family`` are personalised under."""

    @abstractmethod
    def rotate(self, family: KeyFamily) -> int:
        """Generate the next version of a family's keys, make it active, return its number."""

    @abstractmethod
    def key_check_values(self) -> list[KeyCheckValue]:
        """Check values of every master key of every version (safe to publish)."""

    @abstractmethod
    def verify_internal_authenticate(
        self,
        *,
        generation: int,
        key_version: int,
        identification_code: bytes,
        challenge: bytes,
        cryptogram: bytes,
    ) -> bool:
        """Whether ``cryptogram`` is this card's INTERNAL AUTHENTICATE answer to ``challenge``."""

    @abstractmethod
    def external_authenticate_cryptogram(
        self, *, generation: int, key_version: int, identification_code: bytes, challenge: bytes
    ) -> bytes:
        """The EXTERNAL AUTHENTICATE cryptogram (card read key) for the card's challenge."""

    @abstractmethod
    def personalisation_script(
        self, *, data: PersonalisationData, atr: bytes, key_version: int
    ) -> PersonalisationScript:
        """The MACed personalisation script for the blank chip presenting ``atr``."""

    @abstractmethod
    def pin_unblock_command(
        self,
        *,
        generation: int,
        key_version: int,
        identification_code: bytes,
        challenge: bytes,
        new_pin: str,
    ) -> bytes:
        """The MAC-protected PIN unblock APDU for the card's challenge, setting ``new_pin``."""

    def new_challenge(self, *, generation: int) -> bytes:
        """A fresh random of the card's block length for INTERNAL AUTHENTICATE."""
        return secrets.token_bytes(application_of(generation).cipher.block_size)
