"""The ID card scanner on a serial port (RS-232, USB virtual serial, or a pty), via pyserial.

pyserial is imported only here, so nothing else needs it installed.
"""

from __future__ import annotations

import logging

from device_drivers.id_scanner import errors, protocol
from device_drivers.id_scanner.base import IdScanner
from firmware_profiles.scanners import ScannerProfile

try:
    import serial
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the serial ID card scanner needs pyserial: pip install 'xnb[agent]'"
    ) from exc

log = logging.getLogger(__name__)

#: How long a probe waits at one speed: a scanner answers SAM status in a few ms.
PROBE_TIMEOUT_SECONDS = 0.3


class SerialIdScanner(IdScanner):
    """A GA 467 scanner on a serial line, 8N1, at a speed from its profile."""

    def __init__(self, port: str, *, profile: ScannerProfile, baudrate: int | None = None) -> None:
        super().__init__(profile=profile)
        self.port_name = port
        try:
            self._port = serial.Serial(
                port=port,
                baudrate=baudrate or profile.default_baud,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=0,
                write_timeout=2.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise errors.ScannerUnavailableError(f"cannot open {port}: {exc}") from exc
        if baudrate is None:
            try:
                self._probe_baudrate()
            except errors.IdScannerError:
                self.close()
                raise

    @property
    def baudrate(self) -> int:
        """The speed the line runs at now."""
        return int(self._port.baudrate)

    def _probe_baudrate(self) -> None:
        """Find the speed the scanner was set to, trying the profile's rates in order."""
        tried = []
        for rate in self.profile.baud_rates:
            self._port.baudrate = rate
            tried.append(rate)
            try:
                self.exchange(protocol.SAM_STATUS, timeout=PROBE_TIMEOUT_SECONDS)
            except (errors.ScannerTimeoutError, errors.FrameError):
                continue
            log.info("%s: scanner answers at %d baud", self.port_name, rate)
            return
        raise errors.ScannerTimeoutError(
            f"no GA 467 scanner answers on {self.port_name} at {tried} baud"
        )

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise errors.ScannerUnavailableError(f"{self.port_name}: {exc}") from exc

    def _read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            self._port.timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            return first + self._port.read(min(self._port.in_waiting, max_bytes - 1))
        except (serial.SerialException, OSError) as exc:
            raise errors.ScannerUnavailableError(f"{self.port_name}: {exc}") from exc

    def close(self) -> None:
        """Close the serial port."""
        self._port.close()
