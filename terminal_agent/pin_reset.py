"""PIN reset at the counter, carried to the card in the reader (``POST /v1/card/pin-reset``).

The workstation holds no card key. With the card held in one connection:

1. the agent reads EF05 (the identification code) and asks the card for a challenge;
2. the backend's vault computes the unblock command for that challenge
   (``POST /api/v1/cards/{id}/pin-reset``: the operator's session, the holder's ID number as
   read from the ID card, the card in the reader must be the card named; audited);
3. the card takes the command (RESET RETRY COUNTER under its PIN-unblock key, MACed on its
   own challenge): the PIN is set and the tries counter is full again;
4. the card verifies the new PIN (VERIFY), and the agent reports the card's answer and the
   check to the backend (``…/pin-reset/result``, audited).

Where the PIN comes from depends on the reader's profile (``firmware_profiles``):

* **PIN pad** (``pin_pad``): the unblock command sets a one-time PIN drawn by the agent and
  never shown or stored; the resident then types the new PIN twice on the reader, which
  sends CHANGE PIN from the one-time PIN, and types it once more for the VERIFY. The
  agent, the page and the backend never see the resident's PIN.
* **no pad**: the resident types the new PIN twice into the page's masked fields; the page
  sends it once (``new_pin``) and the agent passes it to the backend, which encrypts it
  into the command (it is never stored or logged), then VERIFYs it on the card.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from card_services import CardClient, read_basic_data, verify_pin
from card_services import commands as card_commands
from card_services.apdu import CommandApdu, ResponseApdu
from card_services.operations import select_ssse
from card_services.status_words import check_status
from device_drivers.card_reader import card_errors_as_reader_errors
from device_drivers.card_reader.pin_pad import (
    PIN_DIGITS,
    change_entry,
    enter_pin,
    verify_entry,
)
from terminal_agent.outbox import BackendAnswer, BackendUnreachableError

if TYPE_CHECKING:
    from terminal_agent.agent import Agent
    from terminal_agent.devices import CardReaderDevice

log = logging.getLogger(__name__)


class PinResetRequest(BaseModel):
    """``POST /v1/card/pin-reset``: which card, whose ID card, and the PIN when there is no pad."""

    model_config = ConfigDict(extra="forbid")

    card_id: Annotated[int, Field(ge=1)]
    id_number: Annotated[str, Field(min_length=18, max_length=18)]
    new_pin: Annotated[str | None, Field(pattern=rf"^\d{{{PIN_DIGITS}}}$", repr=False)] = None


def pin_entry_of(agent: Agent) -> str:
    """``pin_pad`` when the reader in use has a PIN pad (its profile says so), else ``keyboard``."""
    reader: CardReaderDevice = agent.device("card_reader")
    name = reader.driver.pick_reader(name=reader.reader_name)
    return "pin_pad" if reader.driver.profile_of(name).supports("pin_pad") else "keyboard"


def reset_pin(
    agent: Agent,
    request: PinResetRequest,
    *,
    authorization: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Reset the PIN of the card in the reader; a retry with the same key answers the first."""
    from terminal_agent.agent import AgentProblem

    if not idempotency_key:
        raise AgentProblem("idempotency_key_required", "缺少 Idempotency-Key 请求头", status=422)
    if not authorization:
        raise AgentProblem("login_required", "重置密码须先登录", status=401)
    # The agent's one memory of first answers (a retried print is never printed twice).
    return agent._once(
        "pin_reset",
        idempotency_key,
        lambda: _reset(agent, request, authorization=authorization, key=idempotency_key),
    )


def _reset(
    agent: Agent, request: PinResetRequest, *, authorization: str, key: str
) -> dict[str, Any]:
    from terminal_agent.agent import AgentProblem

    entry = pin_entry_of(agent)
    if entry == "keyboard" and request.new_pin is None:
        raise AgentProblem(
            "pin_required",
            "本读卡器没有密码键盘：请持卡人在页面上输入新密码",
            status=422,
            field="new_pin",
        )
    if entry == "pin_pad" and request.new_pin is not None:
        raise AgentProblem(
            "pin_pad_required",
            "本读卡器带密码键盘：新密码须由持卡人在读卡器键盘上输入，页面不收密码",
            status=422,
            field="new_pin",
        )
    # On a pad reader the unblock sets a one-time PIN, replaced at once from the pad.
    set_pin = request.new_pin or "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))
    reader: CardReaderDevice = agent.device("card_reader")
    with (
        reader.driver.connect(name=reader.reader_name) as connection,
        card_errors_as_reader_errors(),
    ):
        basic = read_basic_data(connection)
        application = select_ssse(connection)
        client = CardClient(connection)
        challenge = client.send(card_commands.get_challenge(application.challenge_length)).data
        answer = agent.link.send(
            "POST",
            f"/api/v1/cards/{request.card_id}/pin-reset",
            body={
                "challenge": challenge.hex().upper(),
                "id_number": request.id_number,
                "new_pin": set_pin,
                "identification_code": basic.identification_code.hex().upper(),
            },
            idempotency_key=f"pin-reset-{key}",
            authorization=authorization,
        )
        if answer.status != 200:
            raise _refusal(answer)
        command = CommandApdu.from_bytes(bytes.fromhex(answer.body["command"]))
        response = client.send(command, check=False)
        card_answer = f"{response.sw:04X}"
        verified = False
        try:
            if card_answer != "9000":
                raise AgentProblem(
                    "card_refused",
                    f"社保卡未接受重置密码指令（卡片应答 {card_answer}），密码未改变",
                    status=422,
                    card_answer=card_answer,
                )
            if entry == "pin_pad":
                # CHANGE PIN typed on the pad (new PIN twice), then VERIFY typed once more.
                check_status(
                    ResponseApdu.from_bytes(enter_pin(connection, change_entry(set_pin))).sw
                )
                check_status(ResponseApdu.from_bytes(enter_pin(connection, verify_entry())).sw)
            else:
                verify_pin(connection, set_pin)
            verified = True
        finally:
            _report(agent, request.card_id, card_answer, verified, entry, authorization, key)
    log.info("PIN of card %s reset (%s), verified by the card", basic.card_number, entry)
    return {
        "card_number": basic.card_number,
        "entry": entry,
        "verified": True,
        "tries_left": application.pin_tries,
    }


def _refusal(answer: BackendAnswer) -> Exception:
    """The backend's refusal of the reset (wrong holder, wrong card, card not keyed …) with
    its code and field errors, for the page to show next to its fields."""
    from terminal_agent.agent import AgentProblem

    body = answer.body if isinstance(answer.body, dict) else {}
    extra = {"errors": body["errors"]} if body.get("errors") else {}
    return AgentProblem(
        str(body.get("code") or "backend_refused"),
        f"后台未同意重置密码：{body.get('detail') or body.get('title') or answer.status}",
        status=answer.status if 400 <= answer.status < 500 else 502,
        backend_status=answer.status,
        **extra,
    )


def _report(
    agent: Agent,
    card_id: int,
    card_answer: str,
    verified: bool,
    entry: str,
    authorization: str,
    key: str,
) -> None:
    """Tell the backend what the card answered and whether it verified the new PIN."""
    try:
        answer = agent.link.send(
            "POST",
            f"/api/v1/cards/{card_id}/pin-reset/result",
            body={"card_answer": card_answer, "verified": verified, "entry": entry},
            idempotency_key=f"pin-reset-result-{key}",
            authorization=authorization,
        )
    except BackendUnreachableError:
        # What the card did stands; the backend's own record of the command is the trace.
        log.warning("PIN reset result of card %s not reported: backend unreachable", card_id)
        return
    if answer.status >= 400:
        log.warning("PIN reset result of card %s refused: %s", card_id, answer.body)
