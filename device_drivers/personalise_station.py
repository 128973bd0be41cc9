"""The card centre's personalisation station: a blank card in a PC/SC reader, the
backend over HTTP for the script, the card written, read back and checked.

The station never holds keys and never imports the backend: it sends the chip's ATR,
gets the MACed script, sends it command by command, reads EF05 back, answers the
backend's verification challenge with INTERNAL AUTHENTICATE and reports everything.
The backend alone decides personalised or spoiled. The HTTP client is injected
(``httpx.Client``, or a test client on the application itself).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from card_services import CardClient, CardError, CommandApdu, read_basic_data
from card_services import commands as card_commands
from device_drivers.card_reader import CardReaderDriver, ReaderError

log = logging.getLogger(__name__)


class StationError(RuntimeError):
    """The backend refused a request (no such card, wrong chip, not produced …)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{problem.get('code', status)}: {problem.get('detail', '')}")


@dataclass(frozen=True)
class StationResult:
    """What the backend made of the card: personalised (verified) or spoiled."""

    card_id: int
    card_number: str | None
    state: str
    verified: bool
    problems: list[str]


class PersonalisationStation:
    """One reader, one backend connection; personalises one card at a time."""

    def __init__(
        self, *, http: httpx.Client, reader: CardReaderDriver, reader_name: str | None = None
    ) -> None:
        self.http = http
        self.reader = reader
        self.reader_name = reader_name

    def _post(self, path: str, body: dict[str, Any], *, idempotent: bool = False) -> Any:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if idempotent else {}
        response = self.http.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            raise StationError(response.status_code, response.json())
        return response.json()

    def card_id_for(self, card_number: str) -> int:
        """The backend's id of the card whose number is printed on the card body."""
        response = self.http.get("/api/v1/cards", params={"card_number": card_number})
        if response.status_code >= 400:
            raise StationError(response.status_code, response.json())
        items = response.json()["items"]
        if not items:
            raise StationError(
                404, {"code": "card_not_found", "detail": f"卡号{card_number}不存在"}
            )
        return int(items[0]["id"])

    def personalise(self, card_id: int) -> StationResult:
        """Write the backend's script to the card in the reader and report the outcome."""
        with self.reader.connect(name=self.reader_name) as connection:
            script = self._post(
                f"/api/v1/cards/{card_id}/personalisation", {"atr": connection.atr.hex()}
            )
            report: dict[str, Any] = {"challenge_id": script["challenge_id"]}
            try:
                client = CardClient(connection)
                for command in script["commands"]:
                    client.send(CommandApdu.from_bytes(bytes.fromhex(command)))
                basic = read_basic_data(connection)
                report["identification_code"] = basic.identification_code.hex().upper()
                report["card_number"] = basic.card_number
                answer = client.send(
                    card_commands.internal_authenticate(bytes.fromhex(script["challenge"]))
                )
                report["cryptogram"] = answer.data.hex().upper()
            except (CardError, ReaderError) as exc:
                # The card is reported as it is: the backend spoils it.
                log.warning("personalisation of card %s failed: %s", card_id, exc)
                report["error"] = f"写卡失败：{exc}"[:200]
        outcome = self._post(
            f"/api/v1/cards/{card_id}/personalisation/result", report, idempotent=True
        )
        card = outcome["card"]
        return StationResult(
            card_id=card["id"],
            card_number=card["card_number"],
            state=card["state"],
            verified=outcome["verified"],
            problems=outcome["problems"],
        )
