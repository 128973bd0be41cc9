"""How a one-time code reaches a resident's phone: a pluggable sender.

``CodeSender`` is the interface an SMS gateway's client implements (``send`` raises
``SendFailed`` when the gateway refuses). ``LogFileSender`` writes the message to a file
(development: read the code there); ``MemorySender`` keeps messages in memory (tests).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class SendFailed(Exception):
    """The gateway did not take the message."""


class CodeSender(Protocol):
    """Sends a short text message to a phone number."""

    def send(self, *, phone: str, text: str) -> None:
        """Deliver ``text`` to ``phone`` or raise ``SendFailed``."""


@dataclass
class LogFileSender:
    """Development sender: one line per message appended to ``path``."""

    path: Path

    def send(self, *, phone: str, text: str) -> None:
        """Append ``time phone text`` to the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"{dt.datetime.now(dt.UTC).isoformat()} {phone} {text}\n")


@dataclass
class MemorySender:
    """Messages kept in memory, newest last (tests)."""

    messages: list[tuple[str, str]] = field(default_factory=list)

    def send(self, *, phone: str, text: str) -> None:
        """Keep the message."""
        self.messages.append((phone, text))
