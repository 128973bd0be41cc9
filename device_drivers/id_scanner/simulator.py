"""A GA 467 scanner simulator: the reader's side of the protocol, over a pseudo-terminal.

:class:`ScannerSimulator` is the device's logic (a card on the glass or not, the
"lift before the next find" rule, injected faults) and records every frame in and
out. :class:`PtyScannerSimulator` serves it on the master end of ``os.openpty()``;
the real pyserial driver opens the slave end by name, exactly as it opens
``/dev/ttyUSB0``. A pty ignores the speed, so the simulator reads the speed the
driver set on the line and answers noise when it is not the device's own, and it can
pace its replies at the line rate (``pace=True``) to behave like a real cable.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import random
import select
import termios
import threading
import time
import tty
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

from device_drivers.id_scanner import protocol
from device_drivers.id_scanner.errors import IdScannerError
from device_drivers.id_scanner.idcard import PHOTO_BYTES, IdCard, encode_read_reply_data
from national_codes import make_id_number


class Fault(enum.Enum):
    """Things a real scanner does wrong, injected one reply at a time."""

    BAD_CHECKSUM = "bad_checksum"  # the next reply's check byte is wrong
    NO_CARD = "no_card"  # the next find answers 80 even with a card present
    READ_FAILURE = "read_failure"  # the next read answers 41
    SLOW = "slow"  # the next reply comes after ``slow_seconds``
    SILENT = "silent"  # the next request gets no reply at all
    GARBAGE = "garbage"  # noise on the line before the next reply
    TRUNCATED = "truncated"  # the next reply stops halfway


@dataclass(frozen=True)
class Transmission:
    """What the device puts on the line for one request, and after how long."""

    data: bytes
    delay: float = 0.0


@dataclass
class ScannerSimulator:
    """The scanner's behaviour, independent of any transport.

    ``traffic`` records ``("in", request body)`` (CMD PARA DATA, as decoded) and
    ``("out", reply frame)`` (the exact bytes put on the line, faults included).
    """

    baudrate: int = 115200
    slow_seconds: float = 1.0
    traffic: list[tuple[str, bytes]] = field(default_factory=list)
    _card: IdCard | None = field(default=None, init=False, repr=False)
    _found: bool = field(default=False, init=False, repr=False)
    _selected: bool = field(default=False, init=False, repr=False)
    _read_since_placed: bool = field(default=False, init=False, repr=False)
    _faults: Counter[Fault] = field(default_factory=Counter, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def place(self, card: IdCard) -> None:
        """Put a card on the scanner (replacing any card there)."""
        with self._lock:
            self._card = card
            self._found = self._selected = self._read_since_placed = False

    def lift(self) -> None:
        """Take the card off the scanner."""
        with self._lock:
            self._card = None
            self._found = self._selected = self._read_since_placed = False

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` occasions for ``fault`` go wrong."""
        with self._lock:
            self._faults[fault] += times

    def _take_fault(self, fault: Fault) -> bool:
        if self._faults[fault] <= 0:
            return False
        self._faults[fault] -= 1
        return True

    def respond(self, frame_body: bytes) -> Transmission:
        """Answer one request frame body (CMD PARA DATA) as the device would."""
        with self._lock:
            self.traffic.append(("in", frame_body))
            if self._take_fault(Fault.SILENT):
                return Transmission(b"")
            reply = self._reply_to(protocol.decode_request(frame_body))
            data = protocol.encode_reply(reply)
            if self._take_fault(Fault.BAD_CHECKSUM):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            if self._take_fault(Fault.TRUNCATED):
                data = data[: len(data) // 2]
            if self._take_fault(Fault.GARBAGE):
                data = bytes([0x00, 0xFF, 0xAA, 0x96, 0x69, 0x13]) + data
            self.traffic.append(("out", data))
            delay = self.slow_seconds if self._take_fault(Fault.SLOW) else 0.0
            return Transmission(data, delay)

    def _reply_to(self, request: protocol.Request) -> protocol.Reply:
        command = protocol.COMMANDS.get((request.cmd, request.para))
        if command is None:
            return protocol.Reply(0, 0, 0x21)
        if command in (protocol.SAM_STATUS, protocol.RESET_SAM):
            return protocol.Reply(0, 0, protocol.SW_OK)
        if command is protocol.READ_SAM_ID:
            return protocol.Reply(0, 0, protocol.SW_OK, bytes(range(16)))
        if command is protocol.FIND_CARD:
            # A card already read stays invisible until lifted: the scanner reports
            # each card once, so a counter never reads the same card twice by accident.
            if self._card is None or self._read_since_placed or self._take_fault(Fault.NO_CARD):
                return protocol.Reply(0, 0, 0x80)
            self._found = True
            return protocol.Reply(0, 0, protocol.SW_CARD_FOUND, bytes(4))
        if command is protocol.SELECT_CARD:
            if not self._found:
                return protocol.Reply(0, 0, 0x81)
            self._selected = True
            return protocol.Reply(0, 0, protocol.SW_OK, bytes(8))
        if command is protocol.READ_TEXT_PHOTO:
            if self._card is None or not self._selected or self._take_fault(Fault.READ_FAILURE):
                return protocol.Reply(0, 0, 0x41)
            # Still selected: a reader answers a repeated read (the driver's retry after
            # a reply damaged on the line), but find stays blind until the card is lifted.
            self._read_since_placed = True
            self._found = False
            return protocol.Reply(0, 0, protocol.SW_OK, encode_read_reply_data(self._card))
        # The synthetic cards carry no appended address.
        return protocol.Reply(0, 0, 0x91)


class PtyScannerSimulator:
    """Serves a :class:`ScannerSimulator` on a pseudo-terminal; use as a context manager."""

    def __init__(self, simulator: ScannerSimulator | None = None, *, pace: bool = False) -> None:
        self.simulator = simulator or ScannerSimulator()
        self.pace = pace
        self._master, self._slave = os.openpty()
        # Raw at once: a cooked pty would echo the driver's bytes back to it.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-scanner", daemon=True)

    def __enter__(self) -> PtyScannerSimulator:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close both ends."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                continue

    def _line_baudrate(self) -> int | None:
        speed = termios.tcgetattr(self._slave)[5]
        return next(
            (rate for rate in _BAUD_CONSTANTS if getattr(termios, f"B{rate}") == speed), None
        )

    def _serve(self) -> None:
        reader = protocol.FrameReader()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if self._line_baudrate() != self.simulator.baudrate:
                # At the wrong speed both sides see noise; answer some, never a frame.
                self._send(bytes(b ^ 0x55 for b in chunk), delay=0.0)
                continue
            reader.feed(chunk)
            while True:
                try:
                    body = reader.next_body()
                except IdScannerError:
                    self._send(protocol.encode_reply(protocol.Reply(0, 0, 0x10)), delay=0.0)
                    continue
                if body is None:
                    break
                transmission = self.simulator.respond(body)
                self._send(transmission.data, delay=transmission.delay)

    def _send(self, data: bytes, *, delay: float) -> None:
        if delay and self._stop.wait(delay):
            return
        # 8N1: ten bit times per byte. Paced in small chunks like a UART's FIFO.
        seconds_per_byte = 10 / self.simulator.baudrate if self.pace else 0.0
        chunk_size = 64
        start = time.monotonic()
        for offset in range(0, len(data), chunk_size):
            chunk = data[offset : offset + chunk_size]
            while chunk:
                written = os.write(self._master, chunk)
                chunk = chunk[written:]
            if seconds_per_byte:
                due = start + (offset + chunk_size) * seconds_per_byte
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)


_BAUD_CONSTANTS = (115200, 57600, 38400, 19200, 9600)

_SURNAMES = "王李张刘陈杨赵黄周吴马孙胡朱郭何"
_GIVEN = ("秀英", "桂兰", "建国", "德明", "玉兰", "志强", "淑珍", "国华", "海燕", "永军")
_MINORITY_NAMES = (("巴特尔·孟克", "1", "02"), ("古丽娜尔·哈力木", "2", "17"))
_TOWNSHIPS = ("和布克赛尔镇", "夏孜盖乡", "铁布肯乌散乡", "查干库勒乡", "巴音傲瓦乡")
AUTHORITY = "和布克赛尔县公安局"
COUNTY = "654226"


def synthetic_card(
    *,
    name: str,
    gender: str,
    ethnicity: str,
    birth_date: dt.date,
    sequence: int,
    address: str,
    issued: dt.date,
) -> IdCard:
    """A consistent card: ID number from the county, birth date and gender; validity by age."""
    # GB 11643: odd sequence men, even women.
    sequence = sequence * 2 + (1 if gender == "1" else 0)
    age_at_issue = (issued - birth_date).days // 365
    # GB/T 2261 validity: 5 years under 16, 10 under 26, 20 under 46, then 长期.
    years = next((y for limit, y in ((16, 5), (26, 10), (46, 20)) if age_at_issue < limit), None)
    # A card issued on 29 February expires on 28 February of a common year.
    valid_to = (
        None
        if years is None
        else dt.date(
            issued.year + years, issued.month, min(issued.day, 28 if issued.month == 2 else 31)
        )
    )
    return IdCard(
        name=name,
        gender=gender,
        ethnicity=ethnicity,
        birth_date=birth_date,
        address=address,
        id_number=make_id_number(COUNTY, birth_date, sequence % 1000),
        issuing_authority=AUTHORITY,
        valid_from=issued,
        valid_to=valid_to,
        photo_wlt=bytes((sequence * 7 + i) % 256 for i in range(PHOTO_BYTES)),
    )


def synthetic_deck(count: int = 20, *, seed: int = 2026) -> list[IdCard]:
    """Synthetic ID cards of residents of the demo county (654226), reproducible by seed.

    The first cards are fixed cases a test wants: Mongol and Kazakh names with the
    middle dot, and a name with a rare character (䶮) that printers without a
    GB18030 font cannot print.
    """
    rng = random.Random(seed)
    fixed = [*_MINORITY_NAMES, ("刘䶮", "1", "01")]
    deck = []
    for index in range(count):
        if index < len(fixed):
            name, gender, ethnicity = fixed[index]
        else:
            name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
            gender, ethnicity = rng.choice("12"), rng.choice(("01", "01", "01", "02", "03", "17"))
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 60))
        issued = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 14))
        township = rng.choice(_TOWNSHIPS)
        address = f"新疆和布克赛尔蒙古自治县{township}{rng.randrange(1, 99)}号"
        deck.append(
            synthetic_card(
                name=name,
                gender=gender,
                ethnicity=ethnicity,
                birth_date=birth,
                sequence=index,
                address=address,
                issued=issued,
            )
        )
    return deck
