"""Secure PIN entry on the reader's PIN pad (PC/SC v2 part 10, ``pin_pad`` profile feature).

The holder types the PIN on the reader; the reader puts the digits into a command APDU
the host prepared (a template with the PIN's place filled with ``FF``) and sends it to
the card. The host, the page and the backend never see the digits. Social security cards
take a six-digit PIN as three BCD bytes (``card_services.crypto.encode_pin``).

* VERIFY: ``00 20 00 00 03 [PIN]`` — the holder types the PIN once.
* CHANGE PIN with the old PIN supplied by the host: ``80 5E 01 00 07 old FF [new]`` — the
  holder types the new PIN twice (entry and confirmation); the reader refuses when the two
  differ. The counter's PIN reset uses this after the backend's unblock command set a
  one-time PIN only the agent knew for the moment between the two commands.

A connection that can do this offers ``enter_pin(entry) -> response bytes``:
``PcscConnection`` through ``SCardControl`` (FEATURE_VERIFY_PIN_DIRECT / MODIFY_PIN_DIRECT),
``SimulatedConnection`` through a :class:`SimulatedPinPad` whose keys a test or the demo
presses.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from card_services.crypto import encode_pin
from device_drivers.card_reader import errors

#: The social security card's PIN: six decimal digits, three BCD bytes.
PIN_DIGITS: Final = 6
_PIN_BYTES: Final = PIN_DIGITS // 2
_PLACEHOLDER: Final = b"\xff" * _PIN_BYTES


class PinEntryError(errors.ReaderError):
    """The holder cancelled, waited too long, or the two new PINs differ."""

    code = "pin_entry_failed"
    provincial_code = -11
    retriable = True


class NoPinPadError(errors.ReaderError):
    """The reader has no PIN pad (the profile says so, or the driver cannot reach it)."""

    code = "no_pin_pad"
    provincial_code = -11
    retriable = False


@dataclass(frozen=True)
class PinEntry:
    """One request to the pad: the command APDU with the PIN's place left as ``FF``."""

    template: bytes
    #: Where the typed PIN goes, counted from the start of the APDU's data field.
    offset: int
    #: Ask for the PIN twice (a new PIN and its confirmation).
    confirm: bool
    #: What the reader's display asks for (the simulator keeps it for tests).
    prompt: str

    def fill(self, pin: str) -> bytes:
        """The APDU with ``pin`` in its place, as the reader builds it."""
        if len(pin) != PIN_DIGITS or not pin.isascii() or not pin.isdigit():
            raise PinEntryError(f"密码须为{PIN_DIGITS}位数字")
        start = 5 + self.offset
        return self.template[:start] + encode_pin(pin) + self.template[start + _PIN_BYTES :]


def verify_entry() -> PinEntry:
    """VERIFY with the PIN typed on the pad."""
    return PinEntry(
        template=bytes((0x00, 0x20, 0x00, 0x00, _PIN_BYTES)) + _PLACEHOLDER,
        offset=0,
        confirm=False,
        prompt="请输入密码",
    )


def change_entry(old_pin: str) -> PinEntry:
    """CHANGE PIN (PBOC form) from ``old_pin``, the new PIN typed twice on the pad."""
    data = encode_pin(old_pin) + b"\xff" + _PLACEHOLDER
    return PinEntry(
        template=bytes((0x80, 0x5E, 0x01, 0x00, len(data))) + data,
        offset=len(data) - _PIN_BYTES,
        confirm=True,
        prompt="请输入新密码",
    )


@runtime_checkable
class PinPadConnection(Protocol):
    """A card connection whose reader has a PIN pad."""

    def enter_pin(self, entry: PinEntry) -> bytes:
        """Let the holder type the PIN; return the card's answer (data + SW1 SW2)."""
        ...


def enter_pin(connection: object, entry: PinEntry) -> bytes:
    """The card's answer to ``entry`` typed on the connection's pad."""
    if not isinstance(connection, PinPadConnection):
        raise NoPinPadError("此读卡器没有密码键盘")
    return connection.enter_pin(entry)


class SimulatedPinPad:
    """A PIN pad whose keys are pressed from outside (tests, ``xnb card pinpad``, the demo).

    Each :meth:`press` is one PIN typed and confirmed with the OK key; a request waits for
    as many as it needs (two for a new PIN) up to ``timeout`` seconds, as a reader does.
    """

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._typed: queue.Queue[str] = queue.Queue()
        #: The prompts shown, in order (what the reader's display asked for).
        self.prompts: list[str] = []

    def press(self, *pins: str) -> None:
        """Type each PIN and press OK."""
        for pin in pins:
            self._typed.put(pin)

    def _next(self) -> str:
        try:
            return self._typed.get(timeout=self.timeout)
        except queue.Empty as exc:
            raise PinEntryError("等待持卡人输入密码超时") from exc

    def collect(self, entry: PinEntry) -> bytes:
        """The APDU the reader builds from what the holder types."""
        self.prompts.append(entry.prompt)
        pin = self._next()
        if entry.confirm:
            self.prompts.append("请再次输入新密码")
            if self._next() != pin:
                raise PinEntryError("两次输入的新密码不一致")
        return entry.fill(pin)
