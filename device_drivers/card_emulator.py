"""The virtual card on a real PC/SC stack: a deck of card files served to vpcd.

vpcd (vsmartcard's reader driver for pcscd) listens on 127.0.0.1:35963 (slot 0) and
35964 (slot 1). A card is inserted by connecting and removed by closing the socket.
Every message is a 2-byte big-endian length and a body; a 1-byte body is a control
code (00 power off, 01 power on, 02 reset, 04 send the ATR), anything longer is a
command APDU answered with a response APDU. When pcscd restarts the socket closes and
the slot reconnects until the card is removed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from card_services import CardState, VirtualCard
from card_services.demo import demo_blank_card, demo_personalised_card

log = logging.getLogger(__name__)

VPCD_HOST: Final = "127.0.0.1"
VPCD_PORT: Final = 35963
DEFAULT_DECK_DIR: Final = Path("var/cards")
_CTRL_OFF: Final = 0x00
_CTRL_ON: Final = 0x01
_CTRL_RESET: Final = 0x02
_CTRL_ATR: Final = 0x04
_RECONNECT_SECONDS: Final = 0.2
#: Linux delays ACKs by up to 40 ms; vpcd waits for them, so every APDU would too.
_TCP_QUICKACK: Final = getattr(socket, "TCP_QUICKACK", None)


class DeckError(ValueError):
    """A deck command that cannot be done (unknown card, card already in a slot)."""


class VpcdSlot:
    """One vpcd reader slot, served in a thread by whichever card is inserted."""

    def __init__(
        self,
        *,
        port: int,
        host: str = VPCD_HOST,
        on_change: Callable[[VirtualCard], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._on_change = on_change
        self._card: VirtualCard | None = None
        self._socket: socket.socket | None = None
        self._wake = threading.Condition()
        self._stopped = False
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vpcd-{port}", daemon=True)
        self._thread.start()

    @property
    def card(self) -> VirtualCard | None:
        """The card in this slot."""
        return self._card

    def insert(self, card: VirtualCard) -> None:
        """Put a card in: connect to vpcd (and keep reconnecting while it stays in)."""
        with self._wake:
            if self._card is not None:
                raise DeckError(f"slot on port {self.port} already holds a card")
            card.reset()
            self._card = card
            self._wake.notify_all()

    def remove(self) -> VirtualCard | None:
        """Take the card out: close the connection so pcscd sees it gone."""
        with self._wake:
            card, self._card = self._card, None
            self._close_socket()
            self._wake.notify_all()
        return card

    def stop(self) -> None:
        """Remove the card and end the thread."""
        with self._wake:
            self._stopped = True
        self.remove()
        self._thread.join(timeout=5)

    def _close_socket(self) -> None:
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("vpcd socket on port %s was already down", self.port)
            self._socket.close()
            self._socket = None
        self.connected.clear()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._card is None and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                card = self._card
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2)
            except OSError:
                # pcscd is not (yet, or no longer) listening: try again shortly.
                with self._wake:
                    self._wake.wait(_RECONNECT_SECONDS)
                continue
            with self._wake:
                if self._card is not card or self._stopped:
                    sock.close()
                    continue
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._socket = sock
                self.connected.set()
            log.info("card %s connected to vpcd port %s", card and card.state.label, self.port)
            if card is not None:
                self._serve(sock, card)
            with self._wake:
                if self._socket is sock:
                    self._close_socket()

    def _receive(self, sock: socket.socket, count: int) -> bytes | None:
        data = bytearray()
        while len(data) < count:
            if _TCP_QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            chunk = sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _serve(self, sock: socket.socket, card: VirtualCard) -> None:
        try:
            while True:
                header = self._receive(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack(">H", header)
                body = self._receive(sock, length)
                if body is None:
                    return
                reply = self._answer(card, body)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError as exc:
            log.info("vpcd connection on port %s ended: %s", self.port, exc)

    def _answer(self, card: VirtualCard, body: bytes) -> bytes | None:
        if len(body) == 1:
            if body[0] == _CTRL_ATR:
                return card.atr
            if body[0] in (_CTRL_OFF, _CTRL_ON, _CTRL_RESET):
                card.reset()
            return None
        revision = card.revision
        response = card.process(body)
        if card.revision != revision and self._on_change is not None:
            self._on_change(card)
        return response


@dataclass(frozen=True)
class DeckCard:
    """One card file in the deck."""

    label: str
    generation: int
    lifecycle: str
    slot: int | None


class CardDeck:
    """Card state files (``<label>.json``) in a directory, and the vpcd slots they go in."""

    def __init__(
        self,
        directory: Path = DEFAULT_DECK_DIR,
        *,
        host: str = VPCD_HOST,
        port: int = VPCD_PORT,
        slots: int = 1,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.slots = [VpcdSlot(port=port + i, host=host, on_change=self.save) for i in range(slots)]

    def _path(self, label: str) -> Path:
        if not label or "/" in label or label.startswith("."):
            raise DeckError(f"bad card label {label!r}")
        return self.directory / f"{label}.json"

    def save(self, card: VirtualCard) -> None:
        """Write a card's state atomically, so a crash never leaves half a file."""
        path = self._path(card.state.label)
        temporary = path.with_suffix(".json.tmp")
        with self._lock:
            temporary.write_text(json.dumps(card.state.to_dict(), indent=1), encoding="utf-8")
            os.replace(temporary, path)

    def load(self, label: str) -> VirtualCard:
        """Read a card from its file."""
        path = self._path(label)
        if not path.exists():
            raise DeckError(f"no card {label!r} in {self.directory}")
        return VirtualCard(CardState.from_dict(json.loads(path.read_text(encoding="utf-8"))))

    def add(self, state: CardState, *, replace: bool = False) -> None:
        """Add a card file to the deck."""
        if self._path(state.label).exists() and not replace:
            raise DeckError(f"card {state.label!r} already exists")
        self.save(VirtualCard(state))

    def add_demo_cards(self) -> list[str]:
        """Fill the deck with demo cards (generations 1–3 and a blank one) that are missing."""
        makers = {
            "demo-gen1": lambda: demo_personalised_card(label="demo-gen1", generation=1, serial=1),
            "demo-gen2": lambda: demo_personalised_card(label="demo-gen2", generation=2, serial=2),
            "demo-gen3": lambda: demo_personalised_card(label="demo-gen3", generation=3, serial=3),
            "blank-gen3": lambda: demo_blank_card(label="blank-gen3", generation=3, serial=99),
        }
        added = []
        for label, make in makers.items():
            if not self._path(label).exists():
                self.add(make())
                added.append(label)
        return added

    def cards(self) -> list[DeckCard]:
        """Every card in the deck and the slot it is in (if any)."""
        inserted = {
            slot.card.state.label: index
            for index, slot in enumerate(self.slots)
            if slot.card is not None
        }
        result = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            result.append(
                DeckCard(
                    label=data["label"],
                    generation=int(data["generation"]),
                    lifecycle=data["lifecycle"],
                    slot=inserted.get(data["label"]),
                )
            )
        return result

    def insert(self, label: str, *, slot: int = 0) -> VirtualCard:
        """Insert a card from the deck into a slot (reading its latest saved state)."""
        if not 0 <= slot < len(self.slots):
            raise DeckError(f"no slot {slot}")
        if any(s.card is not None and s.card.state.label == label for s in self.slots):
            raise DeckError(f"card {label!r} is already inserted")
        card = self.load(label)
        self.slots[slot].insert(card)
        return card

    def remove(self, *, slot: int = 0) -> str | None:
        """Remove the card from a slot; return its label."""
        if not 0 <= slot < len(self.slots):
            raise DeckError(f"no slot {slot}")
        card = self.slots[slot].remove()
        return card.state.label if card else None

    def close(self) -> None:
        """Remove every card and stop the slot threads."""
        for slot in self.slots:
            slot.stop()

    def handle_command(self, line: str) -> dict[str, object]:
        """Run one control command (``list``, ``insert LABEL [SLOT]``, ``remove [SLOT]``)."""
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        verb, args = words[0].lower(), words[1:]
        try:
            if verb == "list":
                cards = [card.__dict__ for card in self.cards()]
                return {"ok": True, "cards": cards}
            if verb == "insert" and 1 <= len(args) <= 2:
                slot = int(args[1]) if len(args) == 2 else 0
                card = self.insert(args[0], slot=slot)
                return {"ok": True, "inserted": args[0], "slot": slot, "atr": card.atr.hex()}
            if verb == "remove" and len(args) <= 1:
                slot = int(args[0]) if args else 0
                return {"ok": True, "removed": self.remove(slot=slot), "slot": slot}
        except (DeckError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown command {line.strip()!r}"}
