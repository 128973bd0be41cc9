"""Card reader errors with stable codes the counter page can show in plain words.

::

    ReaderError(code, provincial_code, retriable)
    ├── NoReaderError          no_reader            -11  retriable
    ├── ServiceNotRunningError service_not_running  -11  retriable
    ├── NoCardError            no_card              -2   retriable
    ├── CardRemovedError       card_removed         -2   retriable
    ├── UnsupportedCardError   unsupported_card     -1   retriable (another card)
    ├── CardNotGenuineError    card_not_genuine     -21  fatal
    ├── PinWrongError          pin_wrong            -51  retriable
    ├── PinBlockedError        pin_blocked          -52  fatal
    ├── CardRefusedError       card_refused         -SW  fatal (any other status word)
    └── ReaderFailureError     reader_error         -11  fatal

Provincial codes follow DOMAIN.md §8: -1 wrong card, -2 no card, -11 reader error,
-21 internal authentication failed, -51 wrong PIN, -52 PIN locked, and card status
words as their negative decimal value.
"""

from __future__ import annotations

from typing import ClassVar


class ReaderError(Exception):
    """Base class: a stable ``code``, the provincial number and whether to retry."""

    code: ClassVar[str] = "reader_error"
    provincial_code: ClassVar[int] = -11
    retriable: ClassVar[bool] = False

    def to_dict(self) -> dict[str, object]:
        """What a local API returns to the page."""
        return {
            "code": self.code,
            "provincial_code": self.provincial_code,
            "retriable": self.retriable,
            "detail": str(self),
        }


class NoReaderError(ReaderError):
    """No card reader is connected (or none matches the requested name/profile)."""

    code = "no_reader"
    retriable = True


class ServiceNotRunningError(ReaderError):
    """The smart card service (pcscd) is not running."""

    code = "service_not_running"
    retriable = True


class NoCardError(ReaderError):
    """The reader is empty."""

    code = "no_card"
    provincial_code = -2
    retriable = True


class CardRemovedError(ReaderError):
    """The card was pulled out (or reset) during the operation."""

    code = "card_removed"
    provincial_code = -2
    retriable = True


class UnsupportedCardError(ReaderError):
    """The card in the reader is not a social security card this system knows."""

    code = "unsupported_card"
    provincial_code = -1
    retriable = True


class CardNotGenuineError(ReaderError):
    """INTERNAL AUTHENTICATE failed: the card is not genuine."""

    code = "card_not_genuine"
    provincial_code = -21


class PinWrongError(ReaderError):
    """The PIN was wrong; ``tries_left`` remain."""

    code = "pin_wrong"
    provincial_code = -51
    retriable = True

    def __init__(self, message: str, *, tries_left: int) -> None:
        super().__init__(message)
        self.tries_left = tries_left

    def to_dict(self) -> dict[str, object]:
        """Include the tries left."""
        return {**super().to_dict(), "tries_left": self.tries_left}


class PinBlockedError(ReaderError):
    """The PIN is blocked; the holder must go to a counter to unblock it."""

    code = "pin_blocked"
    provincial_code = -52


class CardRefusedError(ReaderError):
    """The card answered another error status word."""

    code = "card_refused"

    def __init__(self, message: str, *, sw: int) -> None:
        super().__init__(message)
        self.sw = sw

    def to_dict(self) -> dict[str, object]:
        """Report the status word the provincial way: its negative decimal value."""
        return {**super().to_dict(), "provincial_code": -self.sw, "sw": f"{self.sw:04X}"}


class ReaderFailureError(ReaderError):
    """The reader or its driver failed in a way the user cannot fix."""
