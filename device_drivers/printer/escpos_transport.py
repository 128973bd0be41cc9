"""Real printers through python-escpos transports: network (9100), USB, serial, file.

python-escpos (and through it pyusb and pyserial) is imported only here.
"""

from __future__ import annotations

from pathlib import Path

from device_drivers.printer import errors
from device_drivers.printer.base import ReceiptPrinter
from firmware_profiles.printers import PrinterProfile

try:
    from escpos import printer as escpos_printer
    from escpos.escpos import Escpos
    from escpos.exceptions import Error as EscposError
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("receipt printers need python-escpos: pip install 'xnb[agent]'") from exc


class EscposReceiptPrinter(ReceiptPrinter):
    """A receipt printer on an opened python-escpos transport."""

    def __init__(
        self, device: Escpos, *, profile: PrinterProfile, name: str, readable: bool = True
    ) -> None:
        super().__init__(profile=profile)
        self.name = name
        self.readable = readable
        self._device = device
        try:
            device.open()
        except (EscposError, OSError) as exc:
            raise errors.PrinterUnavailableError(f"cannot open printer {name}: {exc}") from exc

    def _write(self, data: bytes) -> None:
        try:
            self._device._raw(data)
        except (EscposError, OSError) as exc:
            raise errors.PrinterDisconnectedError(f"printer {self.name} went away: {exc}") from exc

    def _read(self) -> bytes:
        try:
            return bytes(self._device._read())
        except TimeoutError:
            return b""
        except (EscposError, OSError) as exc:
            raise errors.PrinterDisconnectedError(f"printer {self.name} went away: {exc}") from exc

    def close(self) -> None:
        """Close the transport."""
        try:
            self._device.close()
        except (EscposError, OSError):
            return


def network_printer(
    host: str, port: int = 9100, *, profile: PrinterProfile, timeout: float = 5.0
) -> EscposReceiptPrinter:
    """A printer on the network (raw TCP, usually port 9100)."""
    device = escpos_printer.Network(host, port=port, timeout=timeout)
    return EscposReceiptPrinter(device, profile=profile, name=f"{host}:{port}")


def usb_printer(
    vendor_id: int, product_id: int, *, profile: PrinterProfile
) -> EscposReceiptPrinter:
    """A USB printer by vendor and product id (needs pyusb and access to the device)."""
    device = escpos_printer.Usb(vendor_id, product_id, timeout=5000)
    return EscposReceiptPrinter(
        device, profile=profile, name=f"usb {vendor_id:04x}:{product_id:04x}"
    )


def serial_printer(port: str, *, profile: PrinterProfile) -> EscposReceiptPrinter:
    """A printer on a serial port, at the profile's speed."""
    device = escpos_printer.Serial(devfile=port, baudrate=profile.serial_baud, timeout=1)
    return EscposReceiptPrinter(device, profile=profile, name=port)


def file_printer(path: Path, *, profile: PrinterProfile) -> EscposReceiptPrinter:
    """A printer device file (``/dev/usb/lp0``) or any file to keep the job in; write only."""
    device = escpos_printer.File(devfile=str(path))
    return EscposReceiptPrinter(device, profile=profile, name=str(path), readable=False)
