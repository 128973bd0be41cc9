"""The card lifecycle as data: states, actions, and which action leads where.

Pure: no ORM. The service looks a transition up here, checks its permission and the
card's current state, and refuses anything the table does not list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from backend.orgs.permissions import Permission


class CardState(StrEnum):
    """Where a card is in its life."""

    APPLIED = "applied"  # 申领
    IN_PRODUCTION = "in_production"  # 制卡中
    PRODUCED = "produced"  # 已制卡（卡厂回盘）
    PERSONALISED = "personalised"  # 已个人化
    SPOILED = "spoiled"  # 废卡
    ISSUED = "issued"  # 已发放
    ACTIVE = "active"  # 已启用
    TEMPORARY_LOSS = "temporary_loss"  # 口头挂失
    LOST = "lost"  # 正式挂失
    REPLACED = "replaced"  # 已补换
    CANCELLED = "cancelled"  # 已注销


STATE_LABELS: Final[dict[CardState, str]] = {
    CardState.APPLIED: "已申领",
    CardState.IN_PRODUCTION: "制卡中",
    CardState.PRODUCED: "已制卡",
    CardState.PERSONALISED: "已个人化",
    CardState.SPOILED: "废卡",
    CardState.ISSUED: "已发放",
    CardState.ACTIVE: "已启用",
    CardState.TEMPORARY_LOSS: "口头挂失",
    CardState.LOST: "正式挂失",
    CardState.REPLACED: "已补换",
    CardState.CANCELLED: "已注销",
}


class CardAction(StrEnum):
    """Something done to a card."""

    START_PRODUCTION = "start_production"
    PRODUCE = "produce"
    PERSONALISE = "personalise"
    SPOIL = "spoil"
    ISSUE = "issue"
    ACTIVATE = "activate"
    REPORT_TEMPORARY_LOSS = "report_temporary_loss"
    REPORT_LOSS = "report_loss"
    UNBLOCK = "unblock"
    REPLACE = "replace"
    CANCEL = "cancel"
    LOSS_EXPIRED = "loss_expired"


ACTION_LABELS: Final[dict[CardAction, str]] = {
    CardAction.START_PRODUCTION: "送制卡",
    CardAction.PRODUCE: "卡厂回盘",
    CardAction.PERSONALISE: "个人化",
    CardAction.SPOIL: "报废",
    CardAction.ISSUE: "发放",
    CardAction.ACTIVATE: "启用",
    CardAction.REPORT_TEMPORARY_LOSS: "口头挂失",
    CardAction.REPORT_LOSS: "正式挂失",
    CardAction.UNBLOCK: "解挂",
    CardAction.REPLACE: "补换卡",
    CardAction.CANCEL: "注销",
    CardAction.LOSS_EXPIRED: "口头挂失到期",
}


@dataclass(frozen=True)
class Transition:
    """From which states an action may be taken, the state it leads to, who may take it."""

    from_states: frozenset[CardState]
    to_state: CardState
    permission: Permission | None  # None: only the system (a lapsed loss report)


_S = CardState
_HELD = frozenset({_S.ISSUED, _S.ACTIVE, _S.TEMPORARY_LOSS, _S.LOST})
TRANSITIONS: Final[dict[CardAction, Transition]] = {
    CardAction.START_PRODUCTION: Transition(
        frozenset({_S.APPLIED}), _S.IN_PRODUCTION, Permission.CARD_PRODUCE
    ),
    CardAction.PRODUCE: Transition(
        frozenset({_S.IN_PRODUCTION}), _S.PRODUCED, Permission.CARD_PRODUCE
    ),
    CardAction.PERSONALISE: Transition(
        frozenset({_S.PRODUCED}), _S.PERSONALISED, Permission.CARD_PRODUCE
    ),
    CardAction.SPOIL: Transition(
        frozenset({_S.IN_PRODUCTION, _S.PRODUCED, _S.PERSONALISED}),
        _S.SPOILED,
        Permission.CARD_PRODUCE,
    ),
    CardAction.ISSUE: Transition(frozenset({_S.PERSONALISED}), _S.ISSUED, Permission.CARD_COUNTER),
    CardAction.ACTIVATE: Transition(frozenset({_S.ISSUED}), _S.ACTIVE, Permission.CARD_COUNTER),
    CardAction.REPORT_TEMPORARY_LOSS: Transition(
        frozenset({_S.ACTIVE}), _S.TEMPORARY_LOSS, Permission.CARD_COUNTER
    ),
    CardAction.REPORT_LOSS: Transition(
        frozenset({_S.ACTIVE, _S.TEMPORARY_LOSS}), _S.LOST, Permission.CARD_COUNTER
    ),
    CardAction.UNBLOCK: Transition(
        frozenset({_S.TEMPORARY_LOSS, _S.LOST}), _S.ACTIVE, Permission.CARD_COUNTER
    ),
    CardAction.REPLACE: Transition(_HELD, _S.REPLACED, Permission.CARD_COUNTER),
    CardAction.CANCEL: Transition(
        frozenset({_S.APPLIED, _S.IN_PRODUCTION, _S.PRODUCED, _S.PERSONALISED}) | _HELD,
        _S.CANCELLED,
        Permission.CARD_COUNTER,
    ),
    CardAction.LOSS_EXPIRED: Transition(frozenset({_S.TEMPORARY_LOSS}), _S.ACTIVE, None),
}

#: The actions staff take one card at a time through ``POST /cards/{id}/actions/{action}``;
#: production and personalisation move cards through their own endpoints.
COUNTER_ACTIONS: Final = frozenset(
    {
        CardAction.SPOIL,
        CardAction.ISSUE,
        CardAction.ACTIVATE,
        CardAction.REPORT_TEMPORARY_LOSS,
        CardAction.REPORT_LOSS,
        CardAction.UNBLOCK,
        CardAction.REPLACE,
        CardAction.CANCEL,
    }
)


class CancelReason(StrEnum):
    """Why a card was cancelled (注销原因)."""

    DEATH = "death"
    EMIGRATION = "emigration"
    HOLDER_REQUEST = "holder_request"
    OTHER = "other"


def actions_from(state: CardState) -> list[CardAction]:
    """Actions the table allows from ``state`` (in the table's order)."""
    return [a for a, t in TRANSITIONS.items() if state in t.from_states]


def effective_state(
    state: CardState, *, loss_expires_on: dt.date | None, today: dt.date
) -> CardState:
    """The state that holds today: an oral loss report lapses after its last day."""
    if (
        state is CardState.TEMPORARY_LOSS
        and loss_expires_on is not None
        and today > loss_expires_on
    ):
        return CardState.ACTIVE
    return state
