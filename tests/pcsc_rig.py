"""The PC/SC rig for a test session: our own ``pcscd --foreground`` with vpcd, and a deck
of virtual cards served to it. Missing pcscd/vpcd/pyscard skips the ``pcsc`` tests
locally and fails them when ``XNB_REQUIRE_RIGS=1`` (CI).

Registered once for the whole run by ``tests/conftest.py`` (``pytest_plugins``): pcscd
and vpcd's ports are one per machine, so the device driver tests and the agent tests
must share one rig instance (a fixture registered by two conftest files would be two
session fixtures, two decks fighting over vpcd)."""

from __future__ import annotations

import fcntl
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from card_services.demo import demo_blank_card, demo_personalised_card
from device_drivers.card_emulator import CardDeck
from device_drivers.card_reader import CardReaderDriver, open_pcsc_reader
from device_drivers.pcsc_rig import PcscdProcess, RigUnavailableError, rig_problem

SLOT0_READER = "Virtual PCD 00 00"


def _missing(reason: str) -> None:
    if os.environ.get("XNB_REQUIRE_RIGS") == "1":
        pytest.fail(f"required test rig missing: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class PcscRig:
    """pcscd + vpcd + the deck, and helpers that wait for pcscd to see changes."""

    pcscd: PcscdProcess
    deck: CardDeck
    reader: CardReaderDriver
    log_path: Path
    _labels: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def slot_atr(self) -> bytes | None:
        """The ATR pcscd reports for slot 0."""
        for state in self.reader.reader_states():
            if state.name == SLOT0_READER:
                return state.atr
        return None

    def wait_until(self, *, present: bool, timeout: float = 10.0) -> None:
        """Wait until pcscd sees slot 0 full (or empty)."""
        deadline = time.monotonic() + timeout
        while (self.slot_atr() is not None) != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"pcscd did not see the card {'in' if present else 'out'}")
            time.sleep(0.05)

    def remove(self) -> None:
        """Take the card out of slot 0 and wait until pcscd notices."""
        self.deck.remove()
        self.wait_until(present=False)

    def insert(self, label: str) -> None:
        """Insert a deck card into slot 0 and wait until pcscd powers it."""
        self.remove()
        self.deck.insert(label)
        self.wait_until(present=True)

    def fresh_card(self, *, generation: int, blank: bool = False) -> str:
        """Add a new demo card with its own file, insert it, return its label."""
        label = f"test-{'blank' if blank else 'card'}-{generation}-{next(self._labels)}"
        make = demo_blank_card if blank else demo_personalised_card
        serial = 99 if blank else generation
        self.deck.add(make(label=label, generation=generation, serial=serial))
        self.insert(label)
        return label


@pytest.fixture(scope="session")
def pcsc_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscRig]:
    """One pcscd + vpcd + deck per session; stops only what it started.

    pcscd's socket and vpcd's ports are one per machine: a second test run on the same
    machine waits here (an exclusive lock on ``XNB_PCSC_LOCK``) until the first is done,
    instead of two decks fighting over vpcd."""
    problem = rig_problem()
    if problem:
        _missing(problem)
    lock = open(os.environ.get("XNB_PCSC_LOCK", "/tmp/xnb-pcsc-rig.lock"), "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    base = tmp_path_factory.mktemp("pcsc")
    log_path = base / "pcscd.log"
    pcscd = PcscdProcess(log_path=log_path)
    try:
        pcscd.start()
    except RigUnavailableError as exc:
        _missing(str(exc))
    deck = CardDeck(base / "cards", slots=1)
    rig = PcscRig(pcscd=pcscd, deck=deck, reader=open_pcsc_reader(), log_path=log_path)
    try:
        yield rig
    finally:
        deck.close()
        pcscd.stop()
        lock.close()


@pytest.fixture
def rig(pcsc_rig: PcscRig) -> Iterator[PcscRig]:
    """The session rig with slot 0 emptied after each test."""
    yield pcsc_rig
    pcsc_rig.remove()
