"""What the counter page asks to print, as checked data, and the layout it becomes.

A print request names a layout and its fields. The signed token either comes with
the request (the page got it from the backend with the operation) or the agent asks
the backend to sign one (``POST /api/v1/receipts``) with the operator's session, naming
the business fact (``fact_id``: the collection, certification, card event, pension or the
office's signed day close) whose person (office) and amount the backend vouches for.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from device_drivers.printer import (
    ClerkCash,
    Counter,
    PensionMonth,
    Receipt,
    SourceAmount,
    account_statement,
    card_receipt,
    contribution_receipt,
    day_close_slip,
    pension_statement,
    survival_receipt,
)
from receipts import ReceiptKind


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CounterIn(_In):
    """Where and by whom the receipt is issued."""

    office: Annotated[str, Field(min_length=1, max_length=60)]
    operator: Annotated[str, Field(min_length=1, max_length=60)]


class _Person(_In):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    id_number: Annotated[str, Field(min_length=18, max_length=18)]


class ContributionFields(_Person):
    """缴费凭证."""

    layout: Literal["contribution"]
    contribution_year: Annotated[int, Field(ge=2009, le=2100)]
    grade_fen: Annotated[int, Field(ge=0)]
    amount_fen: Annotated[int, Field(ge=0)]
    channel: Annotated[str, Field(min_length=1, max_length=20)] = "柜面现金"


class CardFields(_Person):
    """社保卡领卡 / 挂失回执."""

    layout: Literal["card_issued", "card_loss"]
    card_number: Annotated[str, Field(min_length=1, max_length=20)]
    bank: Annotated[str, Field(min_length=1, max_length=40)]


class SurvivalFields(_Person):
    """领取待遇资格认证回执."""

    layout: Literal["survival"]
    method: Annotated[str, Field(min_length=1, max_length=20)] = "柜面认证"
    valid_until: dt.date


class MonthIn(_In):
    """One month on a pension statement."""

    month: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
    basic_fen: Annotated[int, Field(ge=0)]
    account_fen: Annotated[int, Field(ge=0)]


class StatementFields(_Person):
    """养老金发放对账单."""

    layout: Literal["pension_statement"]
    months: Annotated[list[MonthIn], Field(min_length=1, max_length=36)]


class SourceIn(_In):
    """One source's credits of the year (label in words, as the backend names it)."""

    label: Annotated[str, Field(min_length=1, max_length=10)]
    amount_fen: int


class AccountStatementFields(_Person):
    """个人账户对账单 summary (the full statement is the backend's A4 PDF)."""

    layout: Literal["account_statement"]
    year: Annotated[int, Field(ge=2009, le=2100)]
    opening_fen: int
    credits: Annotated[list[SourceIn], Field(max_length=12)]
    interest_fen: int
    closing_fen: int


class ClerkIn(_In):
    """One clerk's drawer on the day-close slip."""

    name: Annotated[str, Field(min_length=1, max_length=60)]
    collections_count: Annotated[int, Field(ge=0)]
    collected_fen: Annotated[int, Field(ge=0)]
    reversals_count: Annotated[int, Field(ge=0)]
    reversed_fen: Annotated[int, Field(ge=0)]
    deposit_fen: int


class DayCloseFields(_In):
    """柜面日结单 of a signed day (the fact is the day-close record; no person)."""

    layout: Literal["day_close"]
    business_date: dt.date
    clerks: Annotated[list[ClerkIn], Field(max_length=50)]
    deposit_fen: int
    signed_by: Annotated[str, Field(min_length=1, max_length=60)]


AnyFields = (
    ContributionFields
    | CardFields
    | SurvivalFields
    | StatementFields
    | AccountStatementFields
    | DayCloseFields
)
ReceiptFields = Annotated[AnyFields, Field(discriminator="layout")]


class PrintRequest(_In):
    """``POST /v1/print/receipt``: the layout's fields, the counter, and the token if known."""

    receipt: ReceiptFields
    counter: CounterIn
    token: Annotated[str | None, Field(max_length=2000)] = None
    # The business fact the backend signs for when no token came (see ``sign_body``).
    fact_id: Annotated[int | None, Field(ge=1)] = None


def receipt_kind(fields: AnyFields) -> str:
    """The token's receipt kind for a layout."""
    return ReceiptKind(fields.layout).value


def sign_body(request: PrintRequest) -> dict[str, object] | None:
    """What ``POST /api/v1/receipts`` is asked: the kind and the fact (a statement: its
    year, from its months); ``None`` when the request names no fact."""
    if request.fact_id is None:
        return None
    fields = request.receipt
    body: dict[str, object] = {"kind": receipt_kind(fields), "fact_id": request.fact_id}
    if isinstance(fields, StatementFields):
        body["year"] = int(fields.months[0].month[:4])
    if isinstance(fields, AccountStatementFields):
        body["year"] = fields.year
    return body


def build_receipt(request: PrintRequest, token: str) -> Receipt:
    """The printable receipt for a request and its signed token."""
    fields = request.receipt
    counter = Counter(office=request.counter.office, operator=request.counter.operator)
    if isinstance(fields, ContributionFields):
        return contribution_receipt(
            token=token,
            counter=counter,
            name=fields.name,
            id_number=fields.id_number,
            contribution_year=fields.contribution_year,
            grade_fen=fields.grade_fen,
            amount_fen=fields.amount_fen,
            channel=fields.channel,
        )
    if isinstance(fields, CardFields):
        return card_receipt(
            token=token,
            counter=counter,
            name=fields.name,
            id_number=fields.id_number,
            card_number=fields.card_number,
            bank=fields.bank,
            loss_reported=fields.layout == "card_loss",
        )
    if isinstance(fields, SurvivalFields):
        return survival_receipt(
            token=token,
            counter=counter,
            name=fields.name,
            id_number=fields.id_number,
            method=fields.method,
            valid_until=fields.valid_until,
        )
    if isinstance(fields, DayCloseFields):
        return day_close_slip(
            token=token,
            counter=counter,
            business_date=fields.business_date,
            clerks=[ClerkCash(**c.model_dump()) for c in fields.clerks],
            deposit_fen=fields.deposit_fen,
            signed_by=fields.signed_by,
        )
    if isinstance(fields, AccountStatementFields):
        return account_statement(
            token=token,
            counter=counter,
            name=fields.name,
            id_number=fields.id_number,
            year=fields.year,
            opening_fen=fields.opening_fen,
            credits=[SourceAmount(c.label, c.amount_fen) for c in fields.credits],
            interest_fen=fields.interest_fen,
            closing_fen=fields.closing_fen,
        )
    return pension_statement(
        token=token,
        counter=counter,
        name=fields.name,
        id_number=fields.id_number,
        months=[PensionMonth(m.month, m.basic_fen, m.account_fen) for m in fields.months],
    )
