"""Request and response bodies of the card API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, computed_field

from backend.cards.lifecycle import STATE_LABELS, CancelReason, CardState
from backend.schemas import Out

BankCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,16}$", description="合作银行代码")]
HexBytes = Annotated[str, Field(pattern=r"^([0-9A-Fa-f]{2})+$", max_length=512)]


class CardApplicationIn(BaseModel):
    """A resident applies for a card."""

    person_id: int
    generation: Annotated[int, Field(ge=1, le=3, description="卡代别：1、2（3DES）或3（SM4）")] = 3
    bank_code: BankCode


class CardActionIn(BaseModel):
    """Details some actions need."""

    reason: Annotated[str | None, Field(max_length=200, description="办理原因")] = None
    id_number: Annotated[
        str | None, Field(min_length=18, max_length=18, description="发卡时核验的身份证号码")
    ] = None
    cancel_reason: CancelReason | None = None
    died_on: dt.date | None = None


class CardOut(Out):
    """A card as staff see it."""

    id: int
    person_id: int
    social_security_number: str
    generation: int
    state: CardState
    card_number: str | None
    identification_code: str | None
    bank_code: str
    region_code: str
    batch_id: int | None
    key_version: int | None
    replaces_card_id: int | None
    issue_date: dt.date | None
    expiry_date: dt.date | None
    loss_reported_on: dt.date | None
    loss_expires_on: dt.date | None
    cancel_reason: str | None
    created_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state_label(self) -> str:
        """The state in words."""
        return STATE_LABELS[self.state]


class CardEventOut(Out):
    """One step of a card's history (its id names it as a receipt's fact)."""

    id: int
    action: str
    from_state: str | None
    to_state: str
    reason: str | None
    operator_id: int | None
    at: dt.datetime


class CardDetail(CardOut):
    """A card with its history."""

    events: list[CardEventOut]


class CardActionResult(BaseModel):
    """The card acted on, and the new card when it was replaced."""

    card: CardOut
    replacement: CardOut | None = None


class TransitionOut(BaseModel):
    """One row of the lifecycle table."""

    action: str
    label: str
    from_states: list[str]
    to_state: str
    permission: str | None


class BatchCollectIn(BaseModel):
    """Collect the applications of a region into a production batch."""

    region_prefix: Annotated[str, Field(pattern=r"^\d{2,12}$", description="区划代码前缀")]
    limit: Annotated[int, Field(ge=1, le=5000)] = 5000


class BatchOut(Out):
    """A production batch."""

    id: int
    batch_number: str
    region_prefix: str
    state: str
    card_count: int
    created_at: dt.datetime
    export_sha256: str | None
    exported_at: dt.datetime | None
    return_sha256: str | None
    returned_at: dt.datetime | None


class ReturnFileIn(BaseModel):
    """The card factory's return file, as text."""

    content: Annotated[str, Field(max_length=20_000_000)]
    accept_valid: Annotated[
        bool, Field(description="只导入正确的行；默认任何一行有误则整份拒收")
    ] = False


class ReturnReportOut(BaseModel):
    """What an import of a return file did."""

    batch_number: str
    sha256: str
    rows: int
    produced: int
    already: int
    rejects: list[dict[str, object]]
    repeated: bool


class ChallengeIn(BaseModel):
    """The identification code the terminal read from the card (EF05 tag 01)."""

    identification_code: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{32}$")]


class CodedChallengeIn(ChallengeIn):
    """The card's own challenge, with the identification code naming the card."""

    challenge: HexBytes


class ChallengeOut(BaseModel):
    """A single-use random for INTERNAL AUTHENTICATE."""

    challenge_id: str
    challenge: str
    expires_at: dt.datetime


class AnswerIn(BaseModel):
    """The card's INTERNAL AUTHENTICATE answer to a challenge."""

    challenge_id: Annotated[str, Field(max_length=32)]
    cryptogram: HexBytes


class HolderOut(Out):
    """The card holder, shown only inside the operator's scope."""

    id: int
    id_number: str
    name: str
    hukou_region_code: str


class AuthenticationOut(BaseModel):
    """A card found genuine and usable."""

    authentic: bool
    may_use: bool
    card: CardOut
    holder: HolderOut | None


class CardChallengeIn(BaseModel):
    """The card's own challenge (GET CHALLENGE), for a protected command."""

    challenge: HexBytes


class CryptogramOut(BaseModel):
    """The EXTERNAL AUTHENTICATE cryptogram for the card's challenge."""

    cryptogram: str


class PinResetIn(CardChallengeIn):
    """PIN reset at the counter: the holder's ID checked, the new PIN typed by them."""

    id_number: Annotated[str, Field(min_length=18, max_length=18)]
    new_pin: Annotated[str, Field(pattern=r"^\d{6}$", repr=False)]
    #: EF05's identification code of the card in the reader: it must be this card.
    identification_code: Annotated[str | None, Field(pattern=r"^[0-9A-Fa-f]{32}$")] = None


class PinResetResultIn(BaseModel):
    """What the card answered to the unblock command, and whether it then verified the PIN."""

    card_answer: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{4}$", description="卡片应答状态字")]
    verified: bool
    entry: Literal["pin_pad", "keyboard"]


class CommandOut(BaseModel):
    """One APDU to send to the card as it is."""

    command: str


class ScriptIn(BaseModel):
    """The ATR of the blank chip in the station's reader."""

    atr: HexBytes


class ScriptOut(BaseModel):
    """The personalisation script and the challenge that verifies it afterwards."""

    card_id: int
    commands: list[str]
    challenge_id: str
    challenge: str


class PersonalisationResultIn(BaseModel):
    """What the station read back and the card's answer to the verification challenge."""

    challenge_id: Annotated[str, Field(max_length=32)]
    cryptogram: HexBytes | None = None
    identification_code: Annotated[str | None, Field(max_length=32)] = None
    card_number: Annotated[str | None, Field(max_length=9)] = None
    error: Annotated[str | None, Field(max_length=200, description="站点写卡时的错误")] = None


class PersonalisationResultOut(BaseModel):
    """The card after personalisation: personalised, or spoiled with the reasons."""

    card: CardOut
    verified: bool
    problems: list[str]
