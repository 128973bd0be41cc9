"""Card reader driver: abstract reader, PC/SC implementation (pyscard, imported only in
``pcsc.py``) and an in-process simulator with the same interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from device_drivers.card_reader.base import (
    CardConnection,
    CardEvent,
    CardEventKind,
    CardReaderDriver,
    ReaderState,
    card_errors_as_reader_errors,
    read_card,
)
from device_drivers.card_reader.errors import (
    CardNotGenuineError,
    CardRefusedError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    PinBlockedError,
    PinWrongError,
    ReaderError,
    ReaderFailureError,
    ServiceNotRunningError,
    UnsupportedCardError,
)
from device_drivers.card_reader.simulator import SimulatedCardReader

if TYPE_CHECKING:
    from device_drivers.card_reader.pcsc import PcscCardReader


def open_pcsc_reader() -> PcscCardReader:
    """The PC/SC driver; imports pyscard now, with a clear error if it is missing."""
    from device_drivers.card_reader.pcsc import PcscCardReader

    return PcscCardReader()


__all__ = [
    "CardConnection",
    "CardEvent",
    "CardEventKind",
    "CardNotGenuineError",
    "CardReaderDriver",
    "CardRefusedError",
    "CardRemovedError",
    "NoCardError",
    "NoReaderError",
    "PinBlockedError",
    "PinWrongError",
    "ReaderError",
    "ReaderFailureError",
    "ReaderState",
    "ServiceNotRunningError",
    "SimulatedCardReader",
    "UnsupportedCardError",
    "card_errors_as_reader_errors",
    "open_pcsc_reader",
    "read_card",
]
