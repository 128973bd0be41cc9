"""The devices one workstation owns, each watched in its own thread.

Every device has a state the status page shows (``ready``, ``unavailable``,
``paper_out`` …) and a watcher that polls it about twice a second: a device plugged
in, pulled out, or a service restarted (pcscd) is noticed within a second, reported
as an event, and recovered without restarting the agent. Commands from the local API
and the watcher share one lock per device, so a poll never cuts into a read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import card_services
from card_services import commands as card_commands
from device_drivers.card_reader import (
    CardReaderDriver,
    ReaderError,
    card_errors_as_reader_errors,
    read_card,
)
from device_drivers.face import FaceComparator, FaceComparison
from device_drivers.face import errors as face_errors
from device_drivers.id_scanner import IdCard, IdScanner
from device_drivers.id_scanner import errors as scanner_errors
from device_drivers.printer import ReceiptPrinter
from device_drivers.printer import errors as printer_errors
from device_drivers.printer.receipt import Receipt
from terminal_agent.events import EventBus

log = logging.getLogger(__name__)


class Device(ABC):
    """A watched device with a state and a watcher thread."""

    name: str

    def __init__(self, *, bus: EventBus, poll_seconds: float) -> None:
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.state = "starting"
        self.detail: str | None = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin watching."""
        self._thread = threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and release the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release whatever the device holds open."""

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                # A watcher must outlive any surprise: log it and poll again.
                log.exception("%s watcher failed; polling again", self.name)
            self._stop.wait(self.poll_seconds)

    @abstractmethod
    def poll(self) -> None:
        """Look at the device once; publish what changed."""

    def set_state(self, state: str, detail: str | None = None) -> None:
        """Record the state; a change is published as a ``device.state`` event."""
        if state != self.state:
            log.info("%s: %s -> %s (%s)", self.name, self.state, state, detail or "")
            self.state, self.detail = state, detail
            self.bus.publish("device.state", device=self.name, state=state, detail=detail)
        self.detail = detail

    def status(self) -> dict[str, Any]:
        """What the status page shows."""
        return {"state": self.state, "detail": self.detail}


def _jsonable(value: object) -> Any:
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _record(value: object) -> dict[str, Any]:
    assert dataclasses.is_dataclass(value) and not isinstance(value, type)
    return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}


class CardReaderDevice(Device):
    """Social security card readers (PC/SC or simulated): insertion, removal, reads."""

    name = "card_reader"

    def __init__(
        self,
        driver: CardReaderDriver,
        *,
        bus: EventBus,
        poll_seconds: float,
        reader_name: str | None = None,
    ) -> None:
        super().__init__(bus=bus, poll_seconds=poll_seconds)
        self.driver = driver
        self.reader_name = reader_name
        self._snapshot: dict[str, bytes | None] = {}

    def close(self) -> None:
        """Readers are connected per command; nothing stays open."""

    def poll(self) -> None:
        """Compare the readers with the last look; a dead service empties every reader."""
        try:
            events = self.driver.poll_events(self._snapshot)
        except ReaderError as exc:
            for reader, atr in self._snapshot.items():
                if atr is not None:
                    self.bus.publish("card.removed", reader=reader, atr=atr.hex().upper())
            self._snapshot.clear()
            self.set_state(exc.code, str(exc))
            return
        for event in events:
            self.bus.publish(
                f"card.{event.kind.value}",
                reader=event.reader,
                atr=event.atr.hex().upper() if event.atr else None,
            )
        if self._snapshot:
            self.set_state("ready")
        else:
            self.set_state("no_reader", "未检测到读卡器")

    def readers(self) -> list[dict[str, Any]]:
        """Every reader, whether a card is in it, and its profile."""
        return [
            {
                "name": state.name,
                "card_present": state.atr is not None,
                "atr": state.atr.hex().upper() if state.atr else None,
                "profile": self.driver.profile_of(state.name).profile_id,
            }
            for state in self.driver.reader_states()
        ]

    def read(self, verifier: card_services.CardVerifier) -> dict[str, Any]:
        """Read EF05 and EF06 of the card in the chosen reader (``verifier`` answers the
        card's challenge before protected holder data: the backend's vault, or demo keys)."""
        with self.driver.connect(name=self.reader_name) as connection:
            basic, holder = read_card(connection, verifier=verifier)
            return {
                "reader": connection.reader,
                "atr": connection.atr.hex().upper(),
                "basic": _record(basic),
                "holder": _record(holder),
            }

    def authenticate(self, verifier: card_services.CardVerifier) -> dict[str, Any]:
        """Mutual authentication with the card against local keys: is it genuine?"""
        with (
            self.driver.connect(name=self.reader_name) as connection,
            card_errors_as_reader_errors(),
        ):
            result = card_services.authenticate_card(connection, verifier)
            return {
                "reader": connection.reader,
                "genuine": True,
                "generation": result.application.generation,
                "card_number": result.basic.card_number,
                "identification_code": result.basic.identification_code.hex().upper(),
            }

    def answer_challenge(self, challenge_for: Callable[[str], tuple[str, bytes]]) -> CardAnswer:
        """INTERNAL AUTHENTICATE on someone else's challenge (the backend's, online).

        ``challenge_for`` gets the card's identification code and returns the challenge
        id and bytes; the card is held only while it answers.
        """
        with (
            self.driver.connect(name=self.reader_name) as connection,
            card_errors_as_reader_errors(),
        ):
            basic = card_services.read_basic_data(connection)
            code = basic.identification_code.hex().upper()
            challenge_id, challenge = challenge_for(code)
            client = card_services.CardClient(connection)
            cryptogram = client.send(card_commands.internal_authenticate(challenge)).data
            return CardAnswer(
                reader=connection.reader,
                card_number=basic.card_number,
                identification_code=code,
                challenge_id=challenge_id,
                cryptogram=cryptogram,
            )


@dataclasses.dataclass(frozen=True)
class CardAnswer:
    """The card's answer to a backend challenge, for the backend to check."""

    reader: str
    card_number: str
    identification_code: str
    challenge_id: str
    cryptogram: bytes


class IdScannerDevice(Device):
    """The second-generation ID card scanner on a serial line, reopened when it comes back."""

    name = "id_scanner"

    def __init__(
        self, opener: Callable[[], IdScanner], *, bus: EventBus, poll_seconds: float
    ) -> None:
        super().__init__(bus=bus, poll_seconds=poll_seconds)
        self._opener = opener
        self._scanner: IdScanner | None = None
        self._card_present = False

    def close(self) -> None:
        """Close the serial line."""
        with self.lock:
            self._drop()

    def _drop(self) -> None:
        if self._scanner is not None:
            self._scanner.close()
            self._scanner = None
        self._card_present = False

    def _open(self) -> IdScanner:
        if self._scanner is None:
            self._scanner = self._opener()
        return self._scanner

    def poll(self) -> None:
        """Open the line if needed and look for a card newly put on the scanner."""
        with self.lock:
            try:
                scanner = self._open()
                scanner.find_card()
            except scanner_errors.NoIdCardError:
                self._card_present = False
                self.set_state("ready")
            except (
                scanner_errors.ScannerUnavailableError,
                scanner_errors.ScannerTimeoutError,
            ) as exc:
                self._drop()
                self.set_state("unavailable", str(exc))
            except scanner_errors.IdScannerError as exc:
                # Noise or a refused frame: the scanner is there but said something odd.
                self.set_state("ready", f"{exc.code}: {exc}")
            else:
                self.set_state("ready")
                if not self._card_present:
                    self._card_present = True
                    self.bus.publish("idcard.present")

    def read(self) -> IdCard:
        """Find, select and read the ID card on the scanner."""
        with self.lock:
            try:
                card = self._open().read_card()
            except scanner_errors.ScannerUnavailableError:
                self._drop()
                raise
        self.bus.publish("idcard.read", id_number_masked=f"{card.id_number[:6]}********")
        return card


class PrinterDevice(Device):
    """The receipt printer, opened per job; its paper and presence watched by status queries."""

    name = "printer"

    def __init__(
        self,
        opener: Callable[[], ReceiptPrinter],
        *,
        bus: EventBus,
        poll_seconds: float,
        status_queries: bool,
    ) -> None:
        super().__init__(bus=bus, poll_seconds=poll_seconds)
        self._opener = opener
        self._status_queries = status_queries
        self._paper_out = False

    def close(self) -> None:
        """The printer is opened per job; nothing stays open."""

    def poll(self) -> None:
        """Ask the printer for its status (paper, offline, gone)."""
        if not self._status_queries:
            self.set_state("ready", "不查询打印机状态")
            return
        with self.lock:
            try:
                with self._opener() as printer:
                    printer.check_status()
            except printer_errors.PrinterError as exc:
                self._note(exc)
            else:
                self._note(None)

    def _note(self, error: printer_errors.PrinterError | None) -> None:
        paper_out = isinstance(error, printer_errors.PaperOutError)
        if paper_out != self._paper_out:
            self._paper_out = paper_out
            self.bus.publish("printer.paper_out" if paper_out else "printer.paper_back")
        if error is None:
            self.set_state("ready")
        else:
            self.set_state(error.code, str(error))

    def print_receipt(self, receipt: Receipt) -> int:
        """Print one receipt; return how many bytes went to the printer."""
        with self.lock:
            try:
                with self._opener() as printer:
                    data = printer.print_receipt(receipt)
            except printer_errors.PrinterError as exc:
                self._note(exc)
                raise
            self._note(None)
        self.bus.publish("printer.printed", receipt_number=receipt.number)
        return len(data)


class FaceDevice(Device):
    """The face comparison device of a kiosk: watched for presence, one comparison at a time."""

    name = "face"

    def __init__(self, comparator: FaceComparator, *, bus: EventBus, poll_seconds: float) -> None:
        super().__init__(bus=bus, poll_seconds=poll_seconds)
        self.comparator = comparator

    def close(self) -> None:
        """The device is used per comparison; nothing stays open."""

    def poll(self) -> None:
        """Is the device there?"""
        with self.lock:
            try:
                self.comparator.check()
            except face_errors.FaceDeviceError as exc:
                self.set_state("unavailable", str(exc))
            else:
                self.set_state("ready")

    def compare(self, id_photo: bytes) -> FaceComparison:
        """Compare the person in front of the device with the ID card photo."""
        with self.lock:
            try:
                comparison = self.comparator.compare(id_photo)
            except face_errors.FaceDeviceUnavailableError as exc:
                self.set_state("unavailable", str(exc))
                raise
        self.bus.publish("face.compared", outcome=comparison.outcome.value)
        return comparison
