"""The card channel: raw ``transmit`` below, APDU objects and T=0 handling above.

T=0 handling lives here once, so every reader (PC/SC, simulator, recorded script)
gets it: ``61xx`` → GET RESPONSE for the ``xx`` bytes waiting, ``6Cxx`` → the same
command again with ``Le = xx``. pyscard does neither by itself.
"""

from __future__ import annotations

import logging
from typing import Protocol

from card_services.apdu import LE_MAX_SHORT, CommandApdu, ResponseApdu, apdu_trace
from card_services.errors import ApduFormatError
from card_services.status_words import check_status

log = logging.getLogger(__name__)

#: GET RESPONSE rounds before a card that keeps answering ``61xx`` is given up on.
MAX_RESPONSE_CHAINING = 64


class CardChannel(Protocol):
    """Anything that sends one command APDU to a card and returns its raw response."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send a command APDU, return data + SW1 SW2."""
        ...


class CardClient:
    """Sends :class:`CommandApdu` over a :class:`CardChannel`, hiding T=0 and checking SWs."""

    def __init__(self, channel: CardChannel) -> None:
        self.channel = channel

    def _exchange(self, command: CommandApdu) -> ResponseApdu:
        sent = command.to_bytes()
        raw = self.channel.transmit(sent)
        response = ResponseApdu.from_bytes(raw)
        # Headers and status words only: data fields carry holder data, PINs, keys' answers.
        log.debug("APDU %s", apdu_trace(sent, raw))
        return response

    def send(self, command: CommandApdu, *, check: bool = True) -> ResponseApdu:
        """Send a command, follow ``61xx``/``6Cxx``, and raise on an error status if ``check``."""
        response = self._exchange(command)
        if response.sw1 == 0x6C:
            response = self._exchange(command.with_le(response.sw2 or LE_MAX_SHORT))
        data = bytearray(response.data)
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_RESPONSE_CHAINING:
                raise ApduFormatError("card keeps answering 61xx: response chaining never ends")
            get_response = CommandApdu(0x00, 0xC0, 0x00, 0x00, le=response.sw2 or LE_MAX_SHORT)
            response = self._exchange(get_response)
            data += response.data
        result = ResponseApdu(bytes(data), response.sw1, response.sw2)
        if check:
            check_status(result.sw)
        return result
