"""The demo workstation's simulated devices, controlled from another shell.

The counter agent of ``xnb demo`` runs on an in-process card reader simulator, a GA 467
scanner simulator on a pseudo-terminal and a capture printer. This module lets a person
play the resident: ``xnb card insert pensioner-1`` puts that card into the reader,
``xnb idcard place pensioner-1`` puts that ID card on the scanner, ``xnb card remove``
and ``xnb idcard lift`` take them away. Commands arrive on the card emulator's control
port (127.0.0.1:35999, the same protocol as ``xnb card emulate``), so ``xnb card list /
insert / remove`` work against either.

Cards live in a deck directory (one JSON file per card, ``CardDeck``'s format) and are
saved back whenever they change (a PIN reset, a PIN try), so they survive a restart.
Every receipt the capture printer takes is saved as a PNG preview.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from pathlib import Path

from card_services import VirtualCard
from device_drivers.card_emulator import CardDeck, DeckError
from device_drivers.card_reader import SimulatedCardReader
from device_drivers.id_scanner import IdCard, ScannerSimulator
from device_drivers.printer import CapturePrinter, decode_escpos
from device_drivers.printer.preview import save_preview

log = logging.getLogger(__name__)


class DemoDevices:
    """One reader slot, one scanner and the printer of the demo workstation."""

    def __init__(
        self,
        *,
        deck: CardDeck,
        reader: SimulatedCardReader,
        scanner: ScannerSimulator,
        id_cards: dict[str, IdCard],
        capture: CapturePrinter | None = None,
        receipts_dir: Path | None = None,
    ) -> None:
        self.deck = deck
        self.reader = reader
        self.scanner = scanner
        self.id_cards = id_cards
        self.capture = capture
        self.receipts_dir = receipts_dir
        self._card: VirtualCard | None = None
        self._saved_revision = 0
        self._id_card: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._watcher = threading.Thread(target=self._watch, name="demo-devices", daemon=True)
        self._watcher.start()

    # -- cards -------------------------------------------------------------------------

    def insert(self, label: str) -> VirtualCard:
        """Put the deck's card ``label`` into the reader (taking out the one there)."""
        with self._lock:
            card = self.deck.load(label)
            self._take_out()
            self.reader.insert(card)
            self._card, self._saved_revision = card, card.revision
            return card

    def remove(self) -> str | None:
        """Take the card out of the reader; its state is saved to the deck."""
        with self._lock:
            return self._take_out()

    def _take_out(self) -> str | None:
        if self._card is None:
            return None
        label = self._card.state.label
        self.reader.remove()
        self.deck.save(self._card)
        self._card = None
        return label

    # -- ID cards ----------------------------------------------------------------------

    def place(self, label: str) -> IdCard:
        """Put the ID card ``label`` on the scanner."""
        card = self.id_cards.get(label)
        if card is None:
            raise DeckError(f"no ID card {label!r} (known: {', '.join(sorted(self.id_cards))})")
        self.scanner.place(card)
        self._id_card = label
        return card

    def lift(self) -> str | None:
        """Take the ID card off the scanner."""
        label, self._id_card = self._id_card, None
        self.scanner.lift()
        return label

    # -- control -----------------------------------------------------------------------

    def handle_command(self, line: str) -> dict[str, object]:
        """``list``, ``insert LABEL [0]``, ``remove [0]``, ``idcard list|place LABEL|lift``."""
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        verb, args = words[0].lower(), words[1:]
        try:
            if verb == "list" and not args:
                inserted = self._card.state.label if self._card else None
                cards = [
                    {**card.__dict__, "slot": 0 if card.label == inserted else None}
                    for card in self.deck.cards()
                ]
                return {"ok": True, "cards": cards}
            if verb == "insert" and len(args) in (1, 2) and args[1:] in ([], ["0"]):
                card = self.insert(args[0])
                return {"ok": True, "inserted": args[0], "slot": 0, "atr": card.atr.hex()}
            if verb == "remove" and args in ([], ["0"]):
                return {"ok": True, "removed": self.remove(), "slot": 0}
            if verb == "idcard" and args == ["list"]:
                people = {label: f"{c.name} {c.id_number}" for label, c in self.id_cards.items()}
                return {"ok": True, "id_cards": people, "on_scanner": self._id_card}
            if verb == "idcard" and len(args) == 2 and args[0] == "place":
                return {"ok": True, "placed": args[1], "name": self.place(args[1]).name}
            if verb == "idcard" and args == ["lift"]:
                return {"ok": True, "lifted": self.lift()}
        except DeckError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown command {line.strip()!r}"}

    def serve(self, port: int) -> None:
        """Answer control commands on 127.0.0.1:``port`` (one JSON line per command)."""
        devices = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    reply = devices.handle_command(raw.decode("utf-8", "replace"))
                    self.wfile.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="demo-devices-control", daemon=True
        ).start()

    def _watch(self) -> None:
        """Save the card in the reader when it changed; preview every receipt printed."""
        previewed = 0
        while not self._stop.wait(0.5):
            with self._lock:
                if self._card is not None and self._card.revision != self._saved_revision:
                    self.deck.save(self._card)
                    self._saved_revision = self._card.revision
            if self.capture is None or self.receipts_dir is None:
                continue
            jobs = self.capture.jobs[previewed:]
            previewed += len(jobs)
            for index, job in enumerate(jobs, start=previewed - len(jobs) + 1):
                if b"\x1b@" not in job.data:
                    continue  # a status query, not a receipt
                try:
                    self.receipts_dir.mkdir(parents=True, exist_ok=True)
                    path = self.receipts_dir / f"desk-{index:03d}.png"
                    save_preview(decode_escpos(job.data), path)
                    log.info("receipt printed: preview %s", path)
                except Exception:  # a preview is a convenience; the print itself is done
                    log.exception("receipt preview failed")

    def close(self) -> None:
        """Stop answering, save the card in the reader."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            if self._card is not None:
                self.deck.save(self._card)
