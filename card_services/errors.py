"""Errors raised by the card library.

::

    CardError
    ├── ApduFormatError            malformed command or response bytes
    ├── TlvError                   truncated record, unknown tag, bad padding, value too long
    ├── CardCryptoError            wrong key or block length
    ├── UnsupportedCardError       unknown ATR or spec version
    ├── CardVerificationError      the card's cryptogram is wrong: not a genuine card
    └── CardStatusError            the card answered a status word other than 9000
        ├── WrongLengthError       6700, 6Cxx
        ├── AuthenticationFailedError  6300
        ├── PinWrongError          63Cx (x = tries left)
        ├── PinBlockedError        6983
        ├── SecurityStatusError    6982
        ├── SecureMessagingError   6988 (wrong MAC)
        ├── ConditionsNotSatisfiedError 6985, 6986
        ├── CardFileNotFoundError  6A82
        ├── RecordNotFoundError    6A83
        ├── KeyNotFoundError       6A88
        ├── WrongParametersError   6A80, 6A86, 6B00
        ├── InstructionNotSupportedError 6D00, 6E00
        └── CardMemoryError        6581
"""

from __future__ import annotations


class CardError(Exception):
    """Base class of everything the card library raises."""


class ApduFormatError(CardError):
    """Command or response bytes that are not a well-formed APDU."""


class TlvError(CardError):
    """A record that does not decode: truncated, unknown tag, wrong length or padding."""


class CardCryptoError(CardError):
    """A key or block of the wrong length for the algorithm."""


class UnsupportedCardError(CardError):
    """A card this library does not know (ATR or spec version not in the table)."""


class CardVerificationError(CardError):
    """The card's INTERNAL AUTHENTICATE cryptogram does not verify: not a genuine card."""


class CardStatusError(CardError):
    """The card answered with a status word other than ``9000``."""

    def __init__(self, sw: int, message: str) -> None:
        super().__init__(f"{message} (SW {sw:04X})")
        self.sw = sw
        self.message = message


class WrongLengthError(CardStatusError):
    """Lc or Le does not fit the command."""


class AuthenticationFailedError(CardStatusError):
    """A key-based authentication was refused."""


class PinWrongError(CardStatusError):
    """The PIN was wrong; ``tries_left`` more attempts before it blocks."""

    @property
    def tries_left(self) -> int:
        """Attempts left before the PIN blocks."""
        return self.sw & 0x0F


class PinBlockedError(CardStatusError):
    """The PIN is blocked; only an unblock with the issuer's key helps."""


class SecurityStatusError(CardStatusError):
    """The access condition of the file or command is not met."""


class SecureMessagingError(CardStatusError):
    """The MAC of a secured command is wrong or missing."""


class ConditionsNotSatisfiedError(CardStatusError):
    """The command is not allowed in the card's current state."""


class CardFileNotFoundError(CardStatusError):
    """The file or application does not exist on the card."""


class RecordNotFoundError(CardStatusError):
    """The record number or tag does not exist in the file."""


class KeyNotFoundError(CardStatusError):
    """The key referenced by the command does not exist."""


class WrongParametersError(CardStatusError):
    """P1/P2 or the data field is not valid for the command."""


class InstructionNotSupportedError(CardStatusError):
    """The card does not know the class or instruction byte."""


class CardMemoryError(CardStatusError):
    """The card failed to write its memory."""
