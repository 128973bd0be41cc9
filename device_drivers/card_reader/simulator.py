"""An in-process reader with the same interface as PC/SC, recording every APDU."""

from __future__ import annotations

from dataclasses import dataclass

from card_services import VirtualCard
from card_services.replay import ApduExchange
from device_drivers.card_reader import errors
from device_drivers.card_reader.base import CardConnection, CardReaderDriver, ReaderState
from device_drivers.card_reader.pin_pad import NoPinPadError, PinEntry, SimulatedPinPad
from firmware_profiles import ReaderProfile


@dataclass
class _Slot:
    card: VirtualCard | None = None
    #: Bumped on every insertion and removal, so stale connections notice.
    generation: int = 0


class SimulatedCardReader(CardReaderDriver):
    """Named slots holding virtual cards; ``log`` holds every (reader, exchange)."""

    def __init__(
        self,
        reader_names: tuple[str, ...] = ("Simulated Reader 00 00",),
        *,
        profiles: tuple[ReaderProfile, ...] | None = None,
        pin_pad: SimulatedPinPad | None = None,
    ) -> None:
        super().__init__(profiles=profiles)
        self._slots = {name: _Slot() for name in reader_names}
        #: The readers' PIN pad (only readers whose profile has ``pin_pad`` use it).
        self.pin_pad = pin_pad
        self.log: list[tuple[str, ApduExchange]] = []
        self.service_running = True

    def _slot(self, reader: str) -> _Slot:
        if not self.service_running:
            raise errors.ServiceNotRunningError("simulated smart card service is stopped")
        slot = self._slots.get(reader)
        if slot is None:
            raise errors.NoReaderError(f"no reader named {reader!r}")
        return slot

    def insert(self, card: VirtualCard, *, reader: str | None = None) -> None:
        """Put a card into a reader (the first one by default)."""
        slot = self._slot(reader or next(iter(self._slots)))
        card.reset()
        slot.card = card
        slot.generation += 1

    def remove(self, *, reader: str | None = None) -> None:
        """Take the card out of a reader."""
        slot = self._slot(reader or next(iter(self._slots)))
        slot.card = None
        slot.generation += 1

    def reader_states(self) -> list[ReaderState]:
        """Every simulated reader and the ATR of its card."""
        if not self.service_running:
            raise errors.ServiceNotRunningError("simulated smart card service is stopped")
        return [
            ReaderState(name, slot.card.atr if slot.card else None)
            for name, slot in self._slots.items()
        ]

    def _connect(self, reader: str) -> CardConnection:
        slot = self._slot(reader)
        if slot.card is None:
            raise errors.NoCardError(f"no card in {reader}")
        return SimulatedConnection(self, reader=reader, slot=slot, card=slot.card)


class SimulatedConnection(CardConnection):
    """A connection to a simulated slot; fails with ``card_removed`` once the card is out."""

    def __init__(
        self, driver: SimulatedCardReader, *, reader: str, slot: _Slot, card: VirtualCard
    ) -> None:
        super().__init__(reader=reader, atr=card.atr)
        self._driver = driver
        self._slot = slot
        self._card = card
        self._generation = slot.generation
        self.closed = False

    def _transmit(self, apdu: bytes) -> bytes:
        if self.closed:
            raise errors.ReaderFailureError("connection is closed")
        if not self._driver.service_running:
            raise errors.ServiceNotRunningError("simulated smart card service is stopped")
        if self._slot.generation != self._generation or self._slot.card is not self._card:
            raise errors.CardRemovedError(f"card removed from {self.reader}")
        response = self._card.process(apdu)
        self._driver.log.append((self.reader, ApduExchange(apdu, response)))
        return response

    def enter_pin(self, entry: PinEntry) -> bytes:
        """The holder types the PIN on the simulated pad; the reader sends the APDU."""
        pad = self._driver.pin_pad
        if pad is None or not self._driver.profile_of(self.reader).supports("pin_pad"):
            raise NoPinPadError(f"{self.reader} 没有密码键盘")
        return self._transmit(pad.collect(entry))

    def close(self) -> None:
        """Reset the card (as PC/SC disconnect with reset does)."""
        if not self.closed and self._slot.card is self._card:
            self._card.reset()
        self.closed = True
