"""The abstract receipt printer: one raw primitive (``_write``) and a status read below,
rendering and real-time status checks above."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from types import TracebackType

from device_drivers.printer import errors
from device_drivers.printer.receipt import Receipt
from device_drivers.printer.render import Renderer
from firmware_profiles.printers import PrinterProfile

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
#: Real-time status checks: (DLE EOT n, bits that mean trouble, error class, message).
STATUS_CHECKS: tuple[tuple[int, int, type[errors.PrinterError], str], ...] = (
    (1, 0x08, errors.PrinterOfflineError, "打印机脱机（纸仓盖打开或故障）"),
    (4, 0x60, errors.PaperOutError, "打印纸已用完，请装纸"),
)


class ReceiptPrinter(ABC):
    """An ESC/POS printer on some transport, described by a profile."""

    #: Whether the transport carries the printer's answers back (a file does not).
    readable: bool = True

    def __init__(self, *, profile: PrinterProfile) -> None:
        self.profile = profile
        self._renderer = Renderer(profile)

    @abstractmethod
    def _write(self, data: bytes) -> None:
        """Send bytes; raise ``PrinterDisconnectedError`` when the printer is gone."""

    @abstractmethod
    def _read(self) -> bytes:
        """Return the printer's next answer (``b""`` if it hung up or said nothing in time)."""

    @abstractmethod
    def close(self) -> None:
        """Release the transport."""

    def __enter__(self) -> ReceiptPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def check_status(self) -> None:
        """Ask the printer for its real-time status; raise when it is offline or out of paper.

        No answer at all means the printer went away: ``PrinterDisconnectedError``.
        Printers (or transports) that cannot answer are not asked.
        """
        if not (self.readable and self.profile.supports("status_query")):
            return
        for request, trouble_bits, error_class, message in STATUS_CHECKS:
            self._write(DLE_EOT + bytes([request]))
            answer = self._read()
            if not answer:
                raise errors.PrinterDisconnectedError("打印机无应答（已断开或关机）")
            if answer[-1] & trouble_bits:
                raise error_class(message)

    def print_receipt(self, receipt: Receipt) -> bytes:
        """Print ``receipt``: status before (paper?) and after (still there?); return the bytes."""
        data = self._renderer.render(receipt)
        self.check_status()
        self._write(data)
        self.check_status()
        log.info("printed %s receipt %s (%d bytes)", receipt.kind.value, receipt.number, len(data))
        return data
