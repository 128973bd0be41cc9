"""Second-generation ID card scanner (GA 467): codec, abstract driver, simulator.

The serial driver lives in :mod:`device_drivers.id_scanner.serial_port` (it imports
pyserial); import it where a real or pty-attached scanner is opened.
"""

from device_drivers.id_scanner.base import IdScanner
from device_drivers.id_scanner.errors import IdScannerError
from device_drivers.id_scanner.idcard import LONG_TERM, IdCard
from device_drivers.id_scanner.simulator import (
    Fault,
    PtyScannerSimulator,
    ScannerSimulator,
    synthetic_deck,
)

__all__ = [
    "LONG_TERM",
    "Fault",
    "IdCard",
    "IdScanner",
    "IdScannerError",
    "PtyScannerSimulator",
    "ScannerSimulator",
    "synthetic_deck",
]
