"""Card lifecycle under ``/api/v1/cards``: apply, look up, and act on one card.

State changes carry an ``Idempotency-Key``; impossible transitions are 409 with the
from/to states named; cards outside the operator's region are 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from backend.cards import production, service
from backend.cards.lifecycle import (
    ACTION_LABELS,
    COUNTER_ACTIONS,
    TRANSITIONS,
    CardAction,
    CardState,
)
from backend.cards.schemas import (
    BatchCollectIn,
    BatchOut,
    CardActionIn,
    CardActionResult,
    CardApplicationIn,
    CardDetail,
    CardOut,
    ReturnFileIn,
    ReturnReportOut,
    TransitionOut,
)
from backend.deps import CurrentPrincipal, DbSession, IdempotencyKey, Requires
from backend.errors import invalid
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import Page

router = APIRouter(tags=["cards"])

CardReader = Annotated[Principal, Depends(Requires(Permission.CARD_READ))]
CardCounter = Annotated[Principal, Depends(Requires(Permission.CARD_COUNTER))]
CardCentre = Annotated[Principal, Depends(Requires(Permission.CARD_PRODUCE))]


@router.get("/cards/lifecycle", response_model=list[TransitionOut], summary="社保卡状态转换表")
def lifecycle(principal: CardReader) -> list[TransitionOut]:
    """The transition table as data: which action leads from which states to which."""
    return [
        TransitionOut(
            action=action.value,
            label=ACTION_LABELS[action],
            from_states=sorted(s.value for s in t.from_states),
            to_state=t.to_state.value,
            permission=t.permission.value if t.permission else None,
        )
        for action, t in TRANSITIONS.items()
    ]


@router.post("/cards", response_model=CardOut, status_code=201, summary="申领社保卡")
def apply(
    body: CardApplicationIn,
    session: DbSession,
    principal: CardCounter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """A resident of the scope applies for a card; a second live card is 409."""

    def action() -> tuple[int, object]:
        card = service.apply(
            session=session,
            principal=principal,
            person_id=body.person_id,
            generation=body.generation,
            bank_code=body.bank_code,
        )
        return 201, CardOut.model_validate(card).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("/cards", response_model=Page[CardOut], summary="查询社保卡")
def list_cards(
    session: DbSession,
    principal: CardReader,
    person_id: int | None = None,
    state: CardState | None = None,
    batch_id: int | None = None,
    card_number: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[CardOut]:
    """Cards of the scope, newest first."""
    total, cards = service.list_cards(
        session=session,
        principal=principal,
        person_id=person_id,
        state=state,
        batch_id=batch_id,
        card_number=card_number,
        offset=offset,
        limit=limit,
    )
    items = [CardOut.model_validate(c) for c in cards]
    return Page[CardOut](total=total, offset=offset, limit=limit, items=items)


@router.get("/cards/{card_id}", response_model=CardDetail, summary="查看社保卡及其历史")
def get_card(card_id: int, session: DbSession, principal: CardReader) -> CardDetail:
    """One card of the scope with its history."""
    return CardDetail.model_validate(
        service.get_card(session=session, principal=principal, card_id=card_id)
    )


@router.post(
    "/cards/{card_id}/actions/{action}",
    response_model=CardActionResult,
    summary="办理社保卡业务（发放、启用、挂失、解挂、补换、注销、报废）",
)
def act(
    card_id: int,
    action: CardAction,
    body: CardActionIn,
    session: DbSession,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """One action along the lifecycle table; the permission is the action's own."""
    if action not in COUNTER_ACTIONS:
        raise invalid("action", f"“{ACTION_LABELS[action]}”不能在此办理", "not_a_counter_action")

    def run() -> tuple[int, object]:
        result = service.perform(
            session=session,
            principal=principal,
            card_id=card_id,
            action=action,
            reason=body.reason,
            id_number=body.id_number,
            cancel_reason=body.cancel_reason,
            died_on=body.died_on,
        )
        out = CardActionResult(
            card=CardOut.model_validate(result.card),
            replacement=CardOut.model_validate(result.replacement) if result.replacement else None,
        )
        return 200, out.model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=run,
    )


# ---- production batches (card centre) -----------------------------------------------------


@router.post(
    "/cards/batches", response_model=BatchOut, status_code=201, summary="汇总申请为制卡批次"
)
def collect_batch(
    body: BatchCollectIn,
    session: DbSession,
    principal: CardCentre,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Collect the region's oldest applications into a batch (each card → in production)."""

    def action() -> tuple[int, object]:
        batch = production.collect(
            session=session, principal=principal, region_prefix=body.region_prefix, limit=body.limit
        )
        return 201, BatchOut.model_validate(batch).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("/cards/batches/{batch_id}", response_model=BatchOut, summary="查看制卡批次")
def get_batch(batch_id: int, session: DbSession, principal: CardCentre) -> BatchOut:
    """One batch of the scope."""
    return BatchOut.model_validate(
        production.get_batch(session=session, principal=principal, batch_id=batch_id)
    )


@router.post("/cards/batches/{batch_id}/export", response_model=BatchOut, summary="发送卡厂")
def export_batch(
    batch_id: int, session: DbSession, principal: CardCentre, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Mark the batch sent to the factory; its file's SHA-256 is recorded."""

    def action() -> tuple[int, object]:
        batch, _ = production.export(session=session, principal=principal, batch_id=batch_id)
        return 200, BatchOut.model_validate(batch).model_dump(mode="json")

    return respond_once(
        session=session, principal=principal, key=key, request=request, payload={}, action=action
    )


@router.get(
    "/cards/batches/{batch_id}/factory-file",
    response_class=PlainTextResponse,
    summary="下载卡厂数据文件（含校验和）",
)
def factory_file(batch_id: int, session: DbSession, principal: CardCentre) -> PlainTextResponse:
    """The batch's factory data file (the same bytes every time); export it first."""
    batch = production.get_batch(session=session, principal=principal, batch_id=batch_id)
    if batch.state == "collected":
        raise invalid("batch_id", "批次尚未发送卡厂", "batch_not_exported")
    content = production.factory_file(session=session, batch=batch)
    return PlainTextResponse(
        content,
        headers={
            "Content-Disposition": f'attachment; filename="{batch.batch_number}.txt"',
            "X-Checksum-SHA256": batch.export_sha256 or "",
        },
    )


@router.post(
    "/cards/batches/{batch_id}/return",
    response_model=ReturnReportOut,
    summary="导入卡厂回盘文件",
)
def import_return(
    batch_id: int,
    body: ReturnFileIn,
    session: DbSession,
    principal: CardCentre,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """All rows or none (422 listing every bad row) unless ``accept_valid``; a repeat changes
    nothing."""

    def action() -> tuple[int, object]:
        report = production.import_return(
            session=session,
            principal=principal,
            batch_id=batch_id,
            content=body.content,
            accept_valid=body.accept_valid,
        )
        return 200, ReturnReportOut.model_validate(report, from_attributes=True).model_dump()

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )
