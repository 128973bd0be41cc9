"""The real pyserial driver against the scanner simulator over a pseudo-terminal."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_drivers.id_scanner import Fault, PtyScannerSimulator, errors, protocol
from device_drivers.id_scanner.serial_port import SerialIdScanner
from device_drivers.id_scanner.simulator import synthetic_deck
from firmware_profiles.scanners import scanner_profile

DECK = synthetic_deck(5)
PROFILE = scanner_profile("simulator")


@pytest.fixture
def pty_scanner() -> Iterator[PtyScannerSimulator]:
    with PtyScannerSimulator() as served:
        yield served


@pytest.fixture
def scanner(pty_scanner: PtyScannerSimulator) -> Iterator[SerialIdScanner]:
    with SerialIdScanner(pty_scanner.port, profile=PROFILE) as opened:
        yield opened


def test_reads_a_card_placed_on_the_scanner(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.place(DECK[0])
    card = scanner.read_card()
    assert card == DECK[0]
    assert card.name == "巴特尔·孟克" and card.ethnicity == "02"
    assert card.photo_wlt == DECK[0].photo_wlt
    sent = [body[:2] for direction, body in pty_scanner.simulator.traffic if direction == "in"]
    assert sent[-3:] == [b"\x20\x01", b"\x20\x02", b"\x30\x01"]


def test_card_left_on_the_scanner_must_be_lifted_before_the_next_find(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.place(DECK[1])
    scanner.read_card()
    with pytest.raises(errors.NoIdCardError, match="拿起"):
        scanner.read_card()
    pty_scanner.simulator.lift()
    pty_scanner.simulator.place(DECK[1])
    assert scanner.read_card().id_number == DECK[1].id_number


def test_empty_scanner_is_no_id_card(scanner: SerialIdScanner) -> None:
    with pytest.raises(errors.NoIdCardError) as caught:
        scanner.find_card()
    assert caught.value.retriable


@pytest.mark.parametrize("fault", [Fault.BAD_CHECKSUM, Fault.GARBAGE, Fault.TRUNCATED])
def test_one_damaged_reply_is_asked_for_again(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner, fault: Fault
) -> None:
    pty_scanner.simulator.place(DECK[2])
    scanner.find_card()
    scanner.select_card()
    pty_scanner.simulator.inject(fault)
    assert scanner.read_text_and_photo() == DECK[2]


def test_persistent_bad_checksum_is_a_checksum_error(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.inject(Fault.BAD_CHECKSUM, times=5)
    with pytest.raises(errors.ChecksumError):
        scanner.sam_status()


def test_persistent_truncation_is_a_truncated_frame(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.inject(Fault.TRUNCATED, times=5)
    with pytest.raises(errors.TruncatedFrameError):
        scanner.sam_status()


def test_injected_no_card_and_read_failure_are_their_status_errors(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.place(DECK[3])
    pty_scanner.simulator.inject(Fault.NO_CARD)
    with pytest.raises(errors.NoIdCardError):
        scanner.read_card()
    pty_scanner.simulator.inject(Fault.READ_FAILURE)
    with pytest.raises(errors.ReadFailedError) as caught:
        scanner.read_card()
    assert caught.value.status == 0x41


def test_silent_scanner_times_out(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.inject(Fault.SILENT, times=5)
    with pytest.raises(errors.ScannerTimeoutError):
        scanner.exchange(protocol.SAM_STATUS, timeout=0.2)


def test_slow_reply_within_the_read_timeout_is_read_and_a_late_one_is_discarded(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    pty_scanner.simulator.slow_seconds = 0.3
    pty_scanner.simulator.place(DECK[4])
    scanner.find_card()
    scanner.select_card()
    pty_scanner.simulator.inject(Fault.SLOW)
    assert scanner.read_text_and_photo() == DECK[4]
    # A reply that arrives after its command timed out must not answer the next command.
    pty_scanner.simulator.inject(Fault.SLOW)
    with pytest.raises(errors.ScannerTimeoutError):
        scanner.exchange(protocol.FIND_CARD, timeout=0.1)
    pty_scanner.simulator.lift()
    time.sleep(0.4)
    with pytest.raises(errors.NoIdCardError):
        scanner.find_card()


def test_card_with_a_bad_id_number_is_refused(
    pty_scanner: PtyScannerSimulator, scanner: SerialIdScanner
) -> None:
    card = DECK[3]
    bad = dataclasses.replace(card, id_number=card.id_number[:17] + "Y")
    pty_scanner.simulator.place(bad)
    with pytest.raises(errors.InvalidCardDataError):
        scanner.read_card()


def test_driver_finds_the_scanner_speed_from_the_profile() -> None:
    with PtyScannerSimulator() as served:
        served.simulator.baudrate = 19200
        served.simulator.place(DECK[0])
        with SerialIdScanner(served.port, profile=PROFILE) as found:
            assert found.baudrate == 19200
            assert found.read_card() == DECK[0]


def test_scanner_at_no_profile_speed_is_a_clear_timeout() -> None:
    only_fast = dataclasses.replace(PROFILE, baud_rates=(115200, 57600))
    with PtyScannerSimulator() as served:
        served.simulator.baudrate = 9600
        with pytest.raises(errors.ScannerTimeoutError, match=r"\[115200, 57600\]"):
            SerialIdScanner(served.port, profile=only_fast)


def test_fixed_baud_rate_skips_probing_and_noise_is_a_frame_error() -> None:
    with PtyScannerSimulator() as served:
        served.simulator.baudrate = 9600
        with (
            SerialIdScanner(served.port, profile=PROFILE, baudrate=115200) as fixed,
            pytest.raises(errors.FrameError, match="noise"),
        ):
            fixed.exchange(protocol.SAM_STATUS, timeout=0.2)


def test_missing_port_is_scanner_unavailable(tmp_path: Path) -> None:
    with pytest.raises(errors.ScannerUnavailableError) as caught:
        SerialIdScanner(str(tmp_path / "ttyNONE"), profile=PROFILE)
    assert caught.value.retriable
