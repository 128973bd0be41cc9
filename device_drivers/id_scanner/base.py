"""The abstract ID card scanner: raw byte primitives below, GA 467 exchanges above.

A concrete scanner supplies ``_write`` and ``_read`` (bytes on a line); the base
frames commands, reassembles replies from noisy input, retries a damaged reply,
turns SW3 codes into the exception table's classes, and runs find → select → read.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from types import TracebackType

from device_drivers.id_scanner import errors, protocol
from device_drivers.id_scanner.idcard import IdCard, parse_read_reply
from firmware_profiles.scanners import ScannerProfile

log = logging.getLogger(__name__)

_READ_CHUNK = 4096
#: Silence inside a frame longer than this means the rest is not coming: a UART sends
#: a frame back to back, so even at 9600 baud the gap between bytes is about 1 ms.
INTER_BYTE_GAP_SECONDS = 0.2


class IdScanner(ABC):
    """A GA 467 ID card scanner on some byte transport."""

    def __init__(self, *, profile: ScannerProfile) -> None:
        self.profile = profile

    @abstractmethod
    def _write(self, data: bytes) -> None:
        """Send bytes to the scanner; raise ``ScannerUnavailableError`` when the line is gone."""

    @abstractmethod
    def _read(self, max_bytes: int, timeout: float) -> bytes:
        """Return what arrives within ``timeout`` seconds (``b""`` if nothing, at most
        ``max_bytes``); raise ``ScannerUnavailableError`` when the line is gone."""

    @abstractmethod
    def close(self) -> None:
        """Release the line."""

    def __enter__(self) -> IdScanner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def exchange(
        self, command: protocol.Command, data: bytes = b"", *, timeout: float | None = None
    ) -> protocol.Reply:
        """Send one command and return its reply, whatever its status.

        A reply damaged on the line (bad check byte, cut short) is asked for again up
        to ``profile.frame_retries`` times: every GA 467 command may be repeated.
        """
        timeout = self.profile.command_timeout_ms / 1000 if timeout is None else timeout
        frame = protocol.encode_request(protocol.Request(command.cmd, command.para, data))
        retries_left = self.profile.frame_retries
        while True:
            self._discard_pending_input()
            self._write(frame)
            try:
                reply = self._read_reply(timeout)
            except errors.FrameError as exc:
                if not retries_left:
                    raise
                retries_left -= 1
                log.warning("%s: %s; asking again", command.name, exc)
                continue
            log.debug("%s -> SW %02X%02X%02X", command.name, reply.sw1, reply.sw2, reply.sw3)
            return reply

    def command(
        self, command: protocol.Command, data: bytes = b"", *, timeout: float | None = None
    ) -> bytes:
        """Send one command, raise the status table's error unless it succeeded, return data."""
        reply = self.exchange(command, data, timeout=timeout)
        reply.raise_for_status()
        return reply.data

    def sam_status(self) -> None:
        """Ask the security module whether it is ready; raise if it is not."""
        self.command(protocol.SAM_STATUS)

    def find_card(self) -> None:
        """Look for a card newly put on the scanner; ``NoIdCardError`` if there is none."""
        self.command(protocol.FIND_CARD)

    def select_card(self) -> None:
        """Select the card found (the scanner starts its authentication with it)."""
        self.command(protocol.SELECT_CARD)

    def read_text_and_photo(self) -> IdCard:
        """Read the selected card's text and photo; the ID number is checked before return."""
        timeout = self.profile.read_timeout_ms / 1000
        return parse_read_reply(self.command(protocol.READ_TEXT_PHOTO, timeout=timeout))

    def read_appended_address(self) -> str | None:
        """The address change written on the card after issue, or ``None`` if there is none."""
        if not self.profile.supports("appended_address"):
            return None
        try:
            data = self.command(protocol.READ_APPENDED_ADDRESS)
        except errors.NoContentError:
            return None
        return data.decode("utf-16-le", errors="replace").rstrip(" \x00") or None

    def read_card(self) -> IdCard:
        """Find, select and read the card on the scanner.

        A scanner reports a card only once: after a read the card must be lifted and
        put back before ``find`` succeeds again (``NoIdCardError`` says so).
        """
        self.find_card()
        self.select_card()
        return self.read_text_and_photo()

    def _discard_pending_input(self) -> None:
        """Drop a late reply to an earlier command so it is not taken for this one's."""
        while stale := self._read(_READ_CHUNK, 0.0):
            log.debug("discarding %d stale bytes", len(stale))

    def _read_reply(self, timeout: float) -> protocol.Reply:
        reader = protocol.FrameReader()
        deadline = time.monotonic() + timeout
        while True:
            body = reader.next_body()
            if body is not None:
                return protocol.decode_reply(body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not reader.in_frame:
                reader.feed(self._read(_READ_CHUNK, remaining))
                continue
            chunk = self._read(_READ_CHUNK, min(remaining, INTER_BYTE_GAP_SECONDS))
            if not chunk:
                raise errors.TruncatedFrameError("reply stopped before its announced length")
            reader.feed(chunk)
        if reader.in_frame:
            raise errors.TruncatedFrameError(f"reply incomplete after {timeout:.1f} s")
        if reader.discarded:
            raise errors.FrameError(
                f"{reader.discarded} bytes of noise and no frame (wrong baud rate?)"
            )
        raise errors.ScannerTimeoutError(f"no reply within {timeout:.1f} s")
