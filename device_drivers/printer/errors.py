"""Receipt printer errors with stable codes.

::

    PrinterError(code, retriable)
    ├── PrinterUnavailableError   printer_unavailable   retriable  cannot connect / open
    ├── PrinterDisconnectedError  printer_disconnected  retriable  went away mid-receipt
    ├── PrinterOfflineError       printer_offline       retriable  cover open or error state
    ├── PaperOutError             paper_out             retriable  paper roll empty
    └── ReceiptLayoutError        receipt_layout        fatal      the receipt cannot be laid out
"""

from __future__ import annotations

from typing import ClassVar


class PrinterError(Exception):
    """Base class: a stable ``code`` and whether the operator can fix it and retry."""

    code: ClassVar[str] = "printer_error"
    retriable: ClassVar[bool] = False

    def to_dict(self) -> dict[str, object]:
        """What a local API returns to the page."""
        return {"code": self.code, "retriable": self.retriable, "detail": str(self)}


class PrinterUnavailableError(PrinterError):
    """The printer cannot be reached (unplugged, off, wrong address)."""

    code = "printer_unavailable"
    retriable = True


class PrinterDisconnectedError(PrinterError):
    """The printer went away while a receipt was being sent; print the receipt again."""

    code = "printer_disconnected"
    retriable = True


class PrinterOfflineError(PrinterError):
    """The printer answers but is offline (cover open, cutter jammed)."""

    code = "printer_offline"
    retriable = True


class PaperOutError(PrinterError):
    """The paper roll is empty."""

    code = "paper_out"
    retriable = True


class ReceiptLayoutError(PrinterError):
    """The receipt does not fit this printer (e.g. a barcode wider than the paper)."""

    code = "receipt_layout"
