"""The abstract card reader: one raw primitive per connection (``_transmit``), shared
logic in the base (reader choice by name or profile, logging, card-event polling, and
translation of card library errors into stable reader error codes)."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

import card_services
from card_services import errors as card_errors
from card_services.apdu import apdu_trace
from device_drivers.card_reader import errors
from firmware_profiles import ReaderProfile, load_reader_profiles, match_reader_profile

log = logging.getLogger(__name__)

#: Card events are found by polling the reader list about once a second.
POLL_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class ReaderState:
    """One reader and the ATR of the card in it (``None`` when empty)."""

    name: str
    atr: bytes | None


class CardEventKind(Enum):
    """What happened in a reader."""

    INSERTED = "inserted"
    REMOVED = "removed"


@dataclass(frozen=True)
class CardEvent:
    """A card was inserted into or removed from a reader."""

    kind: CardEventKind
    reader: str
    atr: bytes | None


class CardConnection(ABC):
    """An open connection to the card in one reader; a :class:`CardChannel`."""

    def __init__(self, *, reader: str, atr: bytes) -> None:
        self.reader = reader
        self.atr = atr

    @abstractmethod
    def _transmit(self, apdu: bytes) -> bytes:
        """Send raw bytes to the card; raise a :class:`ReaderError` on failure."""

    @abstractmethod
    def close(self) -> None:
        """Release the card (resetting it, so no authentication state is left behind)."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU and return data + SW1 SW2."""
        response = self._transmit(apdu)
        # Headers and status words only: data fields carry holder data, PINs, keys' answers.
        log.debug("%s: %s", self.reader, apdu_trace(apdu, response))
        return response

    def __enter__(self) -> CardConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CardReaderDriver(ABC):
    """A family of readers (PC/SC, simulator): list, watch and connect."""

    def __init__(self, *, profiles: tuple[ReaderProfile, ...] | None = None) -> None:
        self.profiles = profiles if profiles is not None else load_reader_profiles()

    @abstractmethod
    def reader_states(self) -> list[ReaderState]:
        """Every connected reader with the ATR of its card (if any)."""

    @abstractmethod
    def _connect(self, reader: str) -> CardConnection:
        """Connect to the card in ``reader``."""

    def list_readers(self) -> list[str]:
        """Names of the connected readers."""
        return [state.name for state in self.reader_states()]

    def profile_of(self, reader: str) -> ReaderProfile:
        """The profile describing ``reader``."""
        return match_reader_profile(reader, profiles=self.profiles)

    def pick_reader(self, *, name: str | None = None, profile: str | None = None) -> str:
        """Choose a reader: by (sub)name, by profile id, else the first with a card in it."""
        states = self.reader_states()
        if name is not None:
            states = [s for s in states if name.lower() in s.name.lower()]
        if profile is not None:
            states = [s for s in states if self.profile_of(s.name).profile_id == profile]
        if not states:
            wanted = " ".join(f"{k}={v!r}" for k, v in (("name", name), ("profile", profile)) if v)
            raise errors.NoReaderError(f"no card reader found {wanted}".strip())
        with_card = [s for s in states if s.atr is not None]
        return (with_card or states)[0].name

    def connect(self, *, name: str | None = None, profile: str | None = None) -> CardConnection:
        """Connect to the card in the chosen reader."""
        return self._connect(self.pick_reader(name=name, profile=profile))

    def poll_events(self, previous: dict[str, bytes | None]) -> list[CardEvent]:
        """Compare the readers with the last snapshot (updated in place); return the changes."""
        current = {s.name: s.atr for s in self.reader_states()}
        events = []
        for reader, old_atr in previous.items():
            if old_atr is not None and current.get(reader) != old_atr:
                events.append(CardEvent(CardEventKind.REMOVED, reader, old_atr))
        for reader, atr in current.items():
            if atr is not None and previous.get(reader) != atr:
                events.append(CardEvent(CardEventKind.INSERTED, reader, atr))
        previous.clear()
        previous.update(current)
        return events

    def watch(
        self,
        on_event: Callable[[CardEvent], None],
        *,
        stop: threading.Event,
        interval: float = POLL_INTERVAL_SECONDS,
        on_error: Callable[[errors.ReaderError], None] | None = None,
    ) -> None:
        """Poll until ``stop`` is set, calling ``on_event`` for every insertion and removal.

        A stopped service reports once through ``on_error`` and polling carries on, so
        events resume when the service is back.
        """
        snapshot: dict[str, bytes | None] = {}
        while not stop.is_set():
            try:
                for event in self.poll_events(snapshot):
                    on_event(event)
            except errors.ReaderError as exc:
                if on_error is not None:
                    on_error(exc)
                for reader, atr in list(snapshot.items()):
                    if atr is not None:
                        on_event(CardEvent(CardEventKind.REMOVED, reader, atr))
                snapshot.clear()
            stop.wait(interval)

    def wait_for_card(
        self, *, timeout: float, name: str | None = None, interval: float = 0.1
    ) -> ReaderState:
        """Block until a card is present (in the named reader), or raise ``NoCardError``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                states = self.reader_states()
            except errors.ServiceNotRunningError:
                states = []
            for state in states:
                if state.atr is not None and (name is None or name.lower() in state.name.lower()):
                    return state
            if time.monotonic() >= deadline:
                raise errors.NoCardError(f"no card within {timeout:.1f} s")
            time.sleep(interval)


@contextmanager
def card_errors_as_reader_errors() -> Iterator[None]:
    """Translate card library errors into reader errors with stable codes."""
    try:
        yield
    except card_errors.PinWrongError as exc:
        raise errors.PinWrongError(str(exc), tries_left=exc.tries_left) from exc
    except card_errors.PinBlockedError as exc:
        raise errors.PinBlockedError(str(exc)) from exc
    except card_errors.CardVerificationError as exc:
        raise errors.CardNotGenuineError(str(exc)) from exc
    except (
        card_errors.UnsupportedCardError,
        card_errors.TlvError,
        card_errors.ApduFormatError,
        card_errors.CardFileNotFoundError,
    ) as exc:
        raise errors.UnsupportedCardError(str(exc)) from exc
    except card_errors.CardStatusError as exc:
        raise errors.CardRefusedError(str(exc), sw=exc.sw) from exc


def read_card(
    connection: CardConnection, *, verifier: card_services.CardVerifier | None = None
) -> tuple[card_services.BasicCardData, card_services.HolderData]:
    """Read EF05 and EF06 from a connected card, errors as reader errors."""
    with card_errors_as_reader_errors():
        basic = card_services.read_basic_data(connection)
        holder = card_services.read_holder_data(connection, basic=basic, verifier=verifier)
    return basic, holder
