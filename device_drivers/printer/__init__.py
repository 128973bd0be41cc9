"""Receipt printers (ESC/POS): layouts, rendering with Chinese done right, capture, decoding.

Real transports live in :mod:`device_drivers.printer.escpos_transport` (it imports
python-escpos' device classes); import it where a real printer is opened.
"""

from device_drivers.printer.base import ReceiptPrinter
from device_drivers.printer.capture import CapturePrinter, MemoryPrinter
from device_drivers.printer.decode import DecodedReceipt, decode_escpos
from device_drivers.printer.errors import PrinterError
from device_drivers.printer.receipt import (
    ClerkCash,
    Counter,
    PensionMonth,
    Receipt,
    SourceAmount,
    account_statement,
    card_receipt,
    contribution_receipt,
    day_close_slip,
    pension_statement,
    survival_receipt,
)
from device_drivers.printer.render import render_receipt

__all__ = [
    "CapturePrinter",
    "ClerkCash",
    "Counter",
    "DecodedReceipt",
    "MemoryPrinter",
    "PensionMonth",
    "PrinterError",
    "Receipt",
    "ReceiptPrinter",
    "SourceAmount",
    "account_statement",
    "card_receipt",
    "contribution_receipt",
    "day_close_slip",
    "decode_escpos",
    "pension_statement",
    "render_receipt",
    "survival_receipt",
]
