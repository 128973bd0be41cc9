"""ID card scanner errors with stable codes the counter page can show in plain words.

::

    IdScannerError(code, retriable)
    ├── ScannerUnavailableError   scanner_unavailable   retriable  port missing, busy or gone
    ├── ScannerTimeoutError       scanner_timeout       retriable  no reply in time
    ├── FrameError                frame_error           retriable  the reply cannot be trusted
    │   ├── ChecksumError         frame_checksum        retriable  XOR check does not match
    │   └── TruncatedFrameError   frame_truncated       retriable  the reply stopped midway
    ├── CommandRejectedError      command_rejected      retriable  SW3 10 11 21 23 24 3F
    ├── NoIdCardError             no_id_card            retriable  SW3 80 (or a card not lifted)
    ├── SelectFailedError         select_failed         retriable  SW3 81
    ├── ReadFailedError           read_failed           retriable  SW3 41 47
    ├── UnknownCardTypeError      unknown_card_type     retriable  SW3 40
    ├── CardNotGenuineError       card_not_genuine      fatal      SW3 31 32 33 37
    ├── SamError                  sam_error             fatal      SW3 60 66
    ├── NoContentError            no_content            fatal      SW3 91 (nothing in that file)
    ├── UnknownStatusError        unknown_status        fatal      any SW3 not in the table
    └── InvalidCardDataError      invalid_card_data     fatal      text unreadable, ID number bad

Which SW3 raises which class is the table ``STATUS_TABLE`` in ``protocol.py``.
"""

from __future__ import annotations

from typing import ClassVar


class IdScannerError(Exception):
    """Base class: a stable ``code`` and whether the operator should simply try again."""

    code: ClassVar[str] = "scanner_error"
    retriable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def to_dict(self) -> dict[str, object]:
        """What a local API returns to the page."""
        return {
            "code": self.code,
            "retriable": self.retriable,
            "status": None if self.status is None else f"{self.status:02X}",
            "detail": str(self),
        }


class ScannerUnavailableError(IdScannerError):
    """The serial port cannot be opened or used (unplugged, busy, wrong name)."""

    code = "scanner_unavailable"
    retriable = True


class ScannerTimeoutError(IdScannerError):
    """The scanner sent nothing back in time (off, wrong baud rate, or busy)."""

    code = "scanner_timeout"
    retriable = True


class FrameError(IdScannerError):
    """The bytes on the line do not form a trustworthy frame."""

    code = "frame_error"
    retriable = True


class ChecksumError(FrameError):
    """A reply frame's XOR check does not match its content."""

    code = "frame_checksum"


class TruncatedFrameError(FrameError):
    """A reply frame began but stopped before its announced length."""

    code = "frame_truncated"


class CommandRejectedError(IdScannerError):
    """The scanner refused our frame (checksum, length, command or permission)."""

    code = "command_rejected"
    retriable = True


class NoIdCardError(IdScannerError):
    """No new card on the scanner; a card already read must be lifted and put back."""

    code = "no_id_card"
    retriable = True


class SelectFailedError(IdScannerError):
    """The scanner found a card but could not select it (moved while reading)."""

    code = "select_failed"
    retriable = True


class ReadFailedError(IdScannerError):
    """Reading the card failed; usually the card moved. Put it back flat and retry."""

    code = "read_failed"
    retriable = True


class UnknownCardTypeError(IdScannerError):
    """The card on the scanner is not a second-generation ID card."""

    code = "unknown_card_type"
    retriable = True


class CardNotGenuineError(IdScannerError):
    """Mutual authentication between the card and the scanner's SAM failed."""

    code = "card_not_genuine"


class SamError(IdScannerError):
    """The scanner's security module is faulty or not authorised; call for service."""

    code = "sam_error"


class NoContentError(IdScannerError):
    """The card holds nothing in the file asked for (e.g. no appended address)."""

    code = "no_content"


class UnknownStatusError(IdScannerError):
    """The scanner answered with a status code GA 467 does not define."""

    code = "unknown_status"


class InvalidCardDataError(IdScannerError):
    """The card's data cannot be used: unreadable text or an ID number that fails its check."""

    code = "invalid_card_data"
