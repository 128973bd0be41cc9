"""The 12333 phone menu over a line protocol on TCP (docs/ivr.md): one call per connection.

A telephony platform's adapter (an Asterisk AGI or FreeSWITCH ESL script) connects,
sends ``CALL <caller number>``, then relays the caller's keys (``DTMF 1``), expired waits
(``TIMEOUT``) and the hang-up (``HANGUP``); the server answers with ``SAY <text>`` lines
for the TTS and ``READ <max keys> <seconds>``, ``TRANSFER operator`` or ``HANGUP``. If
the adapter sends nothing within a wait (and a grace second), the server counts a timeout
itself. Calls per caller number are limited (a token bucket, like the HTTP rate limits).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work
from backend.query import service
from backend.query.ivr import Call, Reply
from backend.query.service import Facts
from backend.web_security import TokenBuckets

log = logging.getLogger("xnb.ivr")
GRACE_S = 1.0
MAX_LINE = 256
RATE_LIMITED = "您的来电过于频繁，请稍后再拨。"


class ProtocolError(Exception):
    """The adapter sent something the protocol does not have."""


def identifier(
    factory: sessionmaker[Session], settings: Settings, caller: str
) -> Callable[[str, str], Facts | None]:
    """The phone menu's identify port: one transaction per try, committed whatever the answer."""

    def identify(id_number: str, password: str) -> Facts | None:
        actor = Actor(username="12333", device="ivr", address=caller[:64])
        with unit_of_work(factory) as session:
            return service.identify(
                session=session,
                settings=settings,
                id_number=id_number,
                password=password,
                actor=actor,
            )

    return identify


class IvrServer:
    """Serves calls; ``identify_for(caller)`` gives each call its identify port."""

    def __init__(
        self,
        *,
        identify_for: Callable[[str], Callable[[str, str], Facts | None]],
        timeout_s: int = 8,
        calls_per_minute: int = 10,
    ) -> None:
        self._identify_for = identify_for
        self._timeout_s = timeout_s
        self._buckets = TokenBuckets(calls_per_minute)

    async def start(self, host: str, port: int) -> asyncio.Server:
        """Listen on ``host:port`` (127.0.0.1 beside the telephony platform)."""
        return await asyncio.start_server(self.handle, host, port, limit=MAX_LINE)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One call, from ``CALL`` to the hang-up or transfer."""
        try:
            await self._call(reader, writer)
        except ProtocolError as error:
            await _send(writer, [f"ERROR {error}"])
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            log.info("ivr: connection lost")
        finally:
            writer.close()

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await _line(reader, self._timeout_s + GRACE_S)
        verb, _, caller = (first or "").partition(" ")
        if verb != "CALL" or not caller:
            raise ProtocolError("expected CALL <caller>")
        if self._buckets.take(caller, time.monotonic()) > 0:
            await _send(writer, [f"SAY {RATE_LIMITED}", "HANGUP"])
            return
        call = Call(identify=self._identify_for(caller), timeout_s=self._timeout_s)
        reply = call.start()
        while True:
            await _send(writer, _lines(reply))
            if reply.end is not None or reply.read is None:
                return
            reply = await self._next(reader, call, reply.read.timeout_s)

    async def _next(self, reader: asyncio.StreamReader, call: Call, timeout_s: int) -> Reply:
        """Feed the adapter's lines to the call until it has something to say."""
        while True:
            line = await _line(reader, timeout_s + GRACE_S)
            if line is None or line == "TIMEOUT":
                return call.timeout()
            verb, _, argument = line.partition(" ")
            if verb == "HANGUP":
                raise ConnectionError("caller hung up")
            if verb != "DTMF" or not argument or any(k not in "0123456789*#" for k in argument):
                raise ProtocolError(f"unknown line: {line[:40]}")
            for key in argument:
                # Identification reads and writes the database: off the event loop.
                reply = await asyncio.to_thread(call.key, key)
                if reply is not None:
                    return reply


async def _line(reader: asyncio.StreamReader, timeout_s: float) -> str | None:
    """One line, or None when none came in time; EOF is a hang-up."""
    try:
        raw = await asyncio.wait_for(reader.readline(), timeout_s)
    except TimeoutError:
        return None
    if not raw:
        raise ConnectionError("connection closed")
    return raw.decode("utf-8", errors="replace").strip()


def _lines(reply: Reply) -> list[str]:
    lines = [f"SAY {text}" for text in reply.say]
    if reply.end == "transfer":
        lines.append("TRANSFER operator")
    elif reply.end is not None:
        lines.append("HANGUP")
    elif reply.read is not None:
        lines.append(f"READ {reply.read.max_keys} {reply.read.timeout_s}")
    return lines


async def _send(writer: asyncio.StreamWriter, lines: list[str]) -> None:
    writer.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
    await writer.drain()


async def serve(
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    host: str,
    port: int,
    timeout_s: int,
    calls_per_minute: int,
) -> None:
    """Run the phone menu's server until cancelled."""
    server = IvrServer(
        identify_for=lambda caller: identifier(factory, settings, caller),
        timeout_s=timeout_s,
        calls_per_minute=calls_per_minute,
    )
    listening = await server.start(host, port)
    log.info("12333 IVR listening on %s:%d", host, port)
    async with listening:
        await listening.serve_forever()
