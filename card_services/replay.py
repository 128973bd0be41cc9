"""Recorded APDU scripts: (command, response) pairs, replayed as a :class:`CardChannel`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from card_services.channel import CardChannel
from card_services.errors import CardError


class ScriptMismatchError(CardError):
    """The code under test sent something other than the recorded command."""


@dataclass(frozen=True)
class ApduExchange:
    """One recorded command and the card's answer."""

    command: bytes
    response: bytes


def parse_script(text: str) -> list[ApduExchange]:
    """Read a JSON script: ``{"exchanges": [["00A4…", "6F…9000"], …]}`` (hex, spaces allowed)."""
    document = json.loads(text)
    return [
        ApduExchange(bytes.fromhex(command), bytes.fromhex(response))
        for command, response in document["exchanges"]
    ]


def dump_script(exchanges: Iterable[ApduExchange], *, title: str) -> str:
    """Write exchanges as a JSON script, hex with spaces for reading."""
    rows = [[e.command.hex(" ").upper(), e.response.hex(" ").upper()] for e in exchanges]
    return json.dumps({"title": title, "exchanges": rows}, ensure_ascii=False, indent=1) + "\n"


@dataclass
class ReplayChannel:
    """Answers with the recorded responses, refusing any command that differs."""

    exchanges: list[ApduExchange]
    position: int = field(default=0)

    def transmit(self, apdu: bytes) -> bytes:
        """Return the next recorded response if ``apdu`` is the next recorded command."""
        if self.position >= len(self.exchanges):
            raise ScriptMismatchError(f"script ended, but {apdu.hex().upper()} was sent")
        expected = self.exchanges[self.position]
        if apdu != expected.command:
            raise ScriptMismatchError(
                f"exchange {self.position}: sent {apdu.hex().upper()}, "
                f"script has {expected.command.hex().upper()}"
            )
        self.position += 1
        return expected.response

    @property
    def finished(self) -> bool:
        """Whether every recorded exchange was used."""
        return self.position == len(self.exchanges)


@dataclass
class RecordingChannel:
    """Wraps a channel and records every exchange, to make scripts from a live card."""

    inner: CardChannel
    exchanges: list[ApduExchange] = field(default_factory=list)

    def transmit(self, apdu: bytes) -> bytes:
        """Forward and record."""
        response = self.inner.transmit(apdu)
        self.exchanges.append(ApduExchange(apdu, response))
        return response
