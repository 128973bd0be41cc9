"""The reader driver's shared logic over the in-process simulator (no pcscd needed)."""

from __future__ import annotations

import threading

import pytest

from card_services import VirtualCard, read_basic_data
from card_services import errors as card_errors
from card_services.demo import demo_personalised_card
from device_drivers.card_reader import (
    CardEventKind,
    CardNotGenuineError,
    CardRefusedError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    ServiceNotRunningError,
    SimulatedCardReader,
    UnsupportedCardError,
    card_errors_as_reader_errors,
    read_card,
)


def demo_card(generation: int = 2) -> VirtualCard:
    return VirtualCard(demo_personalised_card(label="sim", generation=generation, serial=5))


def test_simulator_records_every_apdu() -> None:
    reader = SimulatedCardReader()
    reader.insert(demo_card())
    with reader.connect() as connection:
        basic, holder = read_card(connection)
    assert basic.card_number == "X00000005"
    assert holder.gender == "1"
    commands = [exchange.command.hex().upper() for _, exchange in reader.log]
    assert commands[0].startswith("00A404000F7378312E73682E")
    assert commands[1] == "00C000001B"
    assert all(reader_name == "Simulated Reader 00 00" for reader_name, _ in reader.log)


def test_pick_reader_prefers_one_with_a_card() -> None:
    reader = SimulatedCardReader(("Empty Reader 00 00", "Virtual PCD 00 01"))
    reader.insert(demo_card(), reader="Virtual PCD 00 01")
    assert reader.pick_reader() == "Virtual PCD 00 01"
    assert reader.pick_reader(profile="vpcd") == "Virtual PCD 00 01"
    with pytest.raises(NoReaderError):
        reader.pick_reader(profile="mingwah_pinpad")


def test_empty_reader_and_stopped_service() -> None:
    reader = SimulatedCardReader()
    with pytest.raises(NoCardError):
        reader.connect()
    reader.service_running = False
    with pytest.raises(ServiceNotRunningError) as stopped:
        reader.list_readers()
    assert stopped.value.to_dict()["code"] == "service_not_running"


class RemovingChannel:
    """Pulls the card out of the reader after a number of exchanges (mid-operation)."""

    def __init__(self, reader: SimulatedCardReader, *, after: int) -> None:
        self.reader = reader
        self.connection = reader.connect()
        self.after = after

    def transmit(self, apdu: bytes) -> bytes:
        if self.after == 0:
            self.reader.remove()
        self.after -= 1
        return self.connection.transmit(apdu)


def test_card_removed_mid_command_is_card_removed_not_a_hang() -> None:
    reader = SimulatedCardReader()
    reader.insert(demo_card())
    channel = RemovingChannel(reader, after=1)
    with pytest.raises(CardRemovedError) as removed:
        read_basic_data(channel)
    assert removed.value.retriable
    assert removed.value.provincial_code == -2


def test_card_library_errors_map_to_stable_codes() -> None:
    cases = [
        (card_errors.CardVerificationError("x"), CardNotGenuineError, -21),
        (card_errors.UnsupportedCardError("x"), UnsupportedCardError, -1),
        (card_errors.TlvError("x"), UnsupportedCardError, -1),
    ]
    for raised, expected, code in cases:
        with pytest.raises(expected) as caught, card_errors_as_reader_errors():
            raise raised
        assert caught.value.provincial_code == code
    with pytest.raises(CardRefusedError) as refused, card_errors_as_reader_errors():
        raise card_errors.CardStatusError(0x6A82, "file not found")
    assert refused.value.to_dict()["provincial_code"] == -0x6A82


def test_watch_reports_insert_and_remove() -> None:
    reader = SimulatedCardReader()
    stop = threading.Event()
    kinds: list[CardEventKind] = []
    first = reader.poll_events({})
    assert first == []
    snapshot: dict[str, bytes | None] = {}
    reader.poll_events(snapshot)
    reader.insert(demo_card())
    kinds += [e.kind for e in reader.poll_events(snapshot)]
    reader.remove()
    kinds += [e.kind for e in reader.poll_events(snapshot)]
    assert kinds == [CardEventKind.INSERTED, CardEventKind.REMOVED]
    stop.set()
    reader.watch(lambda event: None, stop=stop)
