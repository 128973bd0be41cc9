"""Bodies of the bank payout API, with OpenAPI examples."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from backend.partners.service import Channel


class AuthorizeIn(BaseModel):
    """A bank asks whether it may pay out on a card."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bank_transaction_id": "ABC20260301000123",
                    "card_number": "X00000501",
                    "amount_fen": 15000,
                    "channel": "village_point",
                    "terminal_id": "VP-654226100-07",
                }
            ]
        }
    )

    bank_transaction_id: Annotated[
        str, Field(min_length=1, max_length=64, description="银行交易流水号")
    ]
    card_number: Annotated[str, Field(pattern=r"^[A-Z0-9]{9}$", description="社保卡卡号")]
    amount_fen: Annotated[int, Field(gt=0, description="金额（分）")]
    channel: Channel
    terminal_id: Annotated[str, Field(min_length=1, max_length=32)]


class AuthorizationOut(BaseModel):
    """The answer: approved with a code to confirm or void, or declined with a reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authorisation_code": "9F3A61C2B0D4E857",
                    "bank_transaction_id": "ABC20260301000123",
                    "decision": "declined",
                    "reason_code": "card_lost",
                    "reason": "卡已挂失",
                    "state": "declined",
                    "amount_fen": 15000,
                    "expires_at": "2026-03-01T08:30:00Z",
                    "repeated": False,
                }
            ]
        }
    )

    authorisation_code: str
    bank_transaction_id: str
    decision: str
    reason_code: str | None
    reason: str | None
    state: str
    amount_fen: int
    expires_at: dt.datetime
    repeated: bool
