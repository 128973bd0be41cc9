"""One application class per card generation, supplying only constants and algorithms.

The generation is chosen from the spec version in EF05 or, before anything is read,
from the ATR table (pattern and mask, as web-eid does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from card_services.crypto import SM4, TRIPLE_DES, BlockCipher
from card_services.errors import UnsupportedCardError
from card_services.layout import EF06, EF06_GEN1, CardFile, card_layout

#: Key identifiers inside SSSE (P2 of EXTERNAL AUTHENTICATE, WRITE KEY).
KEY_TRANSPORT: Final = 0x00
KEY_READ: Final = 0x0A
KEY_INTERNAL_AUTH: Final = 0x0B
KEY_UPDATE: Final = 0x0C
KEY_PIN_UNBLOCK: Final = 0x0D

#: Algorithm ids carried in the SSSE FCI (``9F0C 03 86 01 <alg>``).
ALGORITHM_3DES: Final = 0x01
ALGORITHM_SM4: Final = 0x04


class SocialSecurityApplication:
    """Constants of one card generation; subclasses only set class attributes."""

    generation: ClassVar[int]
    spec_version: ClassVar[str]
    cipher: ClassVar[BlockCipher]
    algorithm_id: ClassVar[int]
    challenge_length: ClassVar[int]
    #: Whether EF06 may be read only after EXTERNAL AUTHENTICATE with the read key.
    holder_data_needs_read_key: ClassVar[bool]
    #: Whether EF06 has the 20-byte name extension record (tag 4E).
    name_extension: ClassVar[bool]
    pin_tries: ClassVar[int] = 3

    @classmethod
    def layout(cls) -> CardFile:
        """The file tree of this generation."""
        return card_layout(name_extension=cls.name_extension)

    @classmethod
    def holder_file(cls) -> CardFile:
        """EF06 as this generation lays it out."""
        return EF06 if cls.name_extension else EF06_GEN1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} spec {self.spec_version}>"


class Generation1Application(SocialSecurityApplication):
    """First-generation card: 3DES, holder data readable without authentication."""

    generation = 1
    spec_version = "1.00"
    cipher = TRIPLE_DES
    algorithm_id = ALGORITHM_3DES
    challenge_length = 8
    holder_data_needs_read_key = False
    name_extension = False


class Generation2Application(SocialSecurityApplication):
    """Second-generation card: 3DES, name extension record."""

    generation = 2
    spec_version = "2.00"
    cipher = TRIPLE_DES
    algorithm_id = ALGORITHM_3DES
    challenge_length = 8
    holder_data_needs_read_key = False
    name_extension = True


class Generation3Application(SocialSecurityApplication):
    """Third-generation card (2019): SM4, holder data only after EXTERNAL AUTHENTICATE."""

    generation = 3
    spec_version = "3.00"
    cipher = SM4
    algorithm_id = ALGORITHM_SM4
    challenge_length = 16
    holder_data_needs_read_key = True
    name_extension = True


GENERATION_1: Final = Generation1Application()
GENERATION_2: Final = Generation2Application()
GENERATION_3: Final = Generation3Application()
APPLICATIONS: Final[tuple[SocialSecurityApplication, ...]] = (
    GENERATION_1,
    GENERATION_2,
    GENERATION_3,
)


@dataclass(frozen=True)
class AtrPattern:
    """An ATR with a mask: a card matches when ``atr & mask == pattern & mask``."""

    pattern: bytes
    mask: bytes
    application: SocialSecurityApplication
    description: str

    def matches(self, atr: bytes) -> bool:
        """Whether ``atr`` matches this pattern under its mask."""
        if len(atr) != len(self.pattern):
            return False
        return all((a & m) == (p & m) for a, p, m in zip(atr, self.pattern, self.mask, strict=True))


def _atr(generation: int) -> bytes:
    # T=0 ATR: TS 3B, T0 6D (TB1, TC1, 13 historical bytes): "SSC", generation,
    # chip state, then the 8-byte chip serial that diversifies the transport key.
    return bytes.fromhex("3B6D0000") + b"SSC" + bytes((generation, 0)) + bytes(8)


_ATR_MASK: Final = bytes.fromhex("FFFFFFFF") + b"\xff" * 4 + bytes(9)

#: Known card ATRs. Extend with provincial card vendors' ATRs as they are met.
ATR_TABLE: Final[tuple[AtrPattern, ...]] = tuple(
    AtrPattern(_atr(app.generation), _ATR_MASK, app, f"xnb card, generation {app.generation}")
    for app in APPLICATIONS
)


def card_atr(generation: int, *, chip_serial: bytes, blank: bool = False) -> bytes:
    """The ATR a card of this generation presents (virtual card and tests)."""
    if len(chip_serial) != 8:
        raise UnsupportedCardError("chip serial must be 8 bytes")
    atr = bytearray(_atr(generation))
    atr[8] = 0x00 if blank else 0x01
    atr[-8:] = chip_serial
    return bytes(atr)


def application_for_spec_version(spec_version: str) -> SocialSecurityApplication:
    """The application of the generation named by EF05's spec version."""
    for app in APPLICATIONS:
        if app.spec_version == spec_version:
            return app
    raise UnsupportedCardError(f"unsupported spec version {spec_version!r}")


def application_for_atr(atr: bytes) -> SocialSecurityApplication:
    """The application whose ATR pattern matches; unknown cards raise."""
    for entry in ATR_TABLE:
        if entry.matches(atr):
            return entry.application
    raise UnsupportedCardError(f"unknown card ATR {atr.hex(' ').upper()}")


def application_for_algorithm(algorithm_id: int) -> SocialSecurityApplication:
    """The newest application using the algorithm named in the SSSE FCI."""
    for app in reversed(APPLICATIONS):
        if app.algorithm_id == algorithm_id:
            return app
    raise UnsupportedCardError(f"unknown card algorithm id {algorithm_id:#04x}")
