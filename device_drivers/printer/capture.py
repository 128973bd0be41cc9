"""A capture printer: a TCP listener on 127.0.0.1 standing in for a network printer (9100).

Each connection is one print job; its bytes are kept in ``jobs`` for tests and
previews. It answers real-time status requests (``DLE EOT n``) like a printer, and
can be told the paper ran out or to hang up after some bytes (a printer switched
off mid-receipt).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from types import TracebackType

from device_drivers.printer.base import ReceiptPrinter
from firmware_profiles.printers import PrinterProfile

DEFAULT_PORT = 9100
DLE_EOT = b"\x10\x04"
#: DLE EOT replies (fixed bit 1 and 4 set): 1 printer, 2 offline cause, 3 error, 4 paper.
_STATUS_OK = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}
_PAPER_END = 0x12 | 0x60


@dataclass
class Job:
    """The bytes of one connection, and whether the printer hung up before the end."""

    data: bytes
    hung_up: bool = False


class CapturePrinter:
    """A fake network printer; use as a context manager, or ``start()`` / ``close()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.paper_out = False
        self.hang_up_after: int | None = None
        self.jobs: list[Job] = []
        self._job_done = threading.Condition()
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.1)
        self.host, self.port = self._server.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="capture-printer", daemon=True)

    def start(self) -> CapturePrinter:
        """Begin accepting print jobs."""
        self._thread.start()
        return self

    def __enter__(self) -> CapturePrinter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._server.close()

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[Job]:
        """Block until ``count`` jobs have finished (the client closed), then return them."""
        with self._job_done:
            if not self._job_done.wait_for(lambda: len(self.jobs) >= count, timeout):
                raise TimeoutError(f"{len(self.jobs)} of {count} print jobs after {timeout} s")
            return list(self.jobs)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                self._capture(connection)

    def _capture(self, connection: socket.socket) -> None:
        connection.settimeout(0.1)
        data = bytearray()
        hung_up = False
        while not self._stop.is_set():
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if self.hang_up_after is not None and len(data) >= self.hang_up_after:
                del data[self.hang_up_after :]
                hung_up = True
                break
            self._answer_status(connection, data)
        with self._job_done:
            self.jobs.append(Job(bytes(data), hung_up))
            self._job_done.notify_all()

    def _answer_status(self, connection: socket.socket, data: bytearray) -> None:
        """Answer a ``DLE EOT n`` that ends what has arrived.

        Only a request at the end counts: a driver waits for the answer before sending
        more, while the same bytes inside an image are just dots.
        """
        if len(data) < 3 or data[-3:-1] != DLE_EOT:
            return
        request = data[-1]
        status = _PAPER_END if request == 4 and self.paper_out else _STATUS_OK.get(request, 0x12)
        connection.sendall(bytes([status]))


class MemoryPrinter(ReceiptPrinter):
    """A printer in memory, like python-escpos' ``Dummy``: ``output`` is every byte sent."""

    readable = False

    def __init__(self, *, profile: PrinterProfile) -> None:
        super().__init__(profile=profile)
        self.output = bytearray()

    def _write(self, data: bytes) -> None:
        self.output += data

    def _read(self) -> bytes:
        return b""

    def close(self) -> None:
        """Nothing to release."""
