"""Assessment, counter collection, reversal and refunds under ``/api/v1``.

Every money-moving request needs an ``Idempotency-Key``: a retry returns the first answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backend.contributions import day_close, quote, service
from backend.contributions.schemas import (
    AssessmentIn,
    AssessmentOut,
    ClerkDayOut,
    CollectionIn,
    CollectionOut,
    DayCloseIn,
    DayCloseOut,
    DayLineOut,
    DaySummaryOut,
    GradeOptionOut,
    HardshipChoiceOut,
    KindTotalOut,
    PersonRefundOut,
    QuoteOut,
    RefundIn,
    RefundOut,
    ReversalIn,
)
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.models import Operator
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import RejectionIn

router = APIRouter(tags=["contributions"])
Reader = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_READ))]
Collector = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_COLLECT))]
Reverser = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_REVERSE))]
RefundMaker = Annotated[Principal, Depends(Requires(Permission.REFUND_REQUEST))]
RefundChecker = Annotated[Principal, Depends(Requires(Permission.REFUND_APPROVE))]
DayCloser = Annotated[Principal, Depends(Requires(Permission.DAY_CLOSE_SIGN))]


@router.post(
    "/contributions/assessments",
    response_model=AssessmentOut,
    status_code=201,
    summary="年度缴费核定",
)
def assess(
    body: AssessmentIn,
    session: DbSession,
    principal: Collector,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Assess a year: grade, subsidies, hardship payer, amount due (make-up for past years)."""

    def action() -> tuple[int, Any]:
        a = service.assess(session=session, principal=principal, **body.model_dump())
        return 201, AssessmentOut.model_validate(a).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get(
    "/contributions/assessments/{assessment_id}", response_model=AssessmentOut, summary="核定详情"
)
def get_assessment(assessment_id: int, session: DbSession, principal: Reader) -> AssessmentOut:
    """One assessed year."""
    return AssessmentOut.model_validate(
        service.get_assessment(session=session, principal=principal, assessment_id=assessment_id)
    )


@router.get(
    "/persons/{person_id}/assessments", response_model=list[AssessmentOut], summary="人员各年度核定"
)
def person_assessments(
    person_id: int, session: DbSession, principal: Reader
) -> list[AssessmentOut]:
    """A person's assessed years."""
    return [
        AssessmentOut.model_validate(a)
        for a in service.list_assessments(session=session, principal=principal, person_id=person_id)
    ]


@router.get(
    "/persons/{person_id}/refunds", response_model=list[PersonRefundOut], summary="人员退费申请记录"
)
def person_refunds(person_id: int, session: DbSession, principal: Reader) -> list[PersonRefundOut]:
    """A person's refund requests, newest first, each with its decision and the reason of a
    rejection."""
    found = service.list_refunds(session=session, principal=principal, person_id=person_id)
    return [
        PersonRefundOut(**RefundOut.model_validate(refund).model_dump(), year=year)
        for refund, year in found
    ]


@router.post(
    "/contributions/collections",
    response_model=CollectionOut,
    status_code=201,
    summary="柜台现金收款",
)
def collect(
    body: CollectionIn,
    session: DbSession,
    principal: Collector,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Take cash for an assessed year; answers with the receipt number."""

    def action() -> tuple[int, Any]:
        c = service.collect(session=session, principal=principal, **body.model_dump())
        return 201, CollectionOut.model_validate(c).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/contributions/collections/{collection_id}/reversal",
    response_model=CollectionOut,
    status_code=201,
    summary="冲正收款（复核员）",
)
def reverse(
    collection_id: int,
    body: ReversalIn,
    session: DbSession,
    principal: Reverser,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Reverse a mistaken collection with a reversing entry; the collector may not do it."""

    def action() -> tuple[int, Any]:
        c = service.reverse_collection(
            session=session, principal=principal, collection_id=collection_id, reason=body.reason
        )
        return 201, CollectionOut.model_validate(c).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/contributions/refunds", response_model=RefundOut, status_code=201, summary="申请退费"
)
def request_refund(
    body: RefundIn,
    session: DbSession,
    principal: RefundMaker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Ask for a refund (duplicate payment or overlap with the employee scheme)."""

    def action() -> tuple[int, Any]:
        r = service.request_refund(session=session, principal=principal, **body.model_dump())
        return 201, RefundOut.model_validate(r).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


def _decide(
    refund_id: int,
    rejection: RejectionIn | None,
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
) -> JSONResponse:
    """Approve (no ``rejection``) or reject with its reason, once per Idempotency-Key."""

    def action() -> tuple[int, Any]:
        r = service.decide_refund(
            session=session,
            principal=principal,
            refund_id=refund_id,
            approve=rejection is None,
            reason=rejection.reason if rejection else None,
        )
        return 200, RefundOut.model_validate(r).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=rejection.model_dump(mode="json") if rejection else {},
        action=action,
    )


@router.post(
    "/contributions/refunds/{refund_id}/approve",
    response_model=RefundOut,
    summary="审核通过退费（复核员）",
)
def approve_refund(
    refund_id: int,
    session: DbSession,
    principal: RefundChecker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Approve a refund: the money goes back; the maker may not approve."""
    return _decide(refund_id, None, session, principal, key, request)


@router.post(
    "/contributions/refunds/{refund_id}/reject", response_model=RefundOut, summary="驳回退费"
)
def reject_refund(
    refund_id: int,
    body: RejectionIn,
    session: DbSession,
    principal: RefundChecker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Reject a refund request, saying why; the maker may not reject."""
    return _decide(refund_id, body, session, principal, key, request)


def _day_out(session: DbSession, day: day_close.DaySummary) -> DaySummaryOut:
    signer = session.get(Operator, day.closed.signed_by) if day.closed else None
    return DaySummaryOut(
        office_id=day.office_id,
        office_name=day.office_name,
        business_date=day.business_date,
        clerks=[
            ClerkDayOut(
                **{k: v for k, v in vars(c).items() if k != "by_kind"},
                by_kind=[KindTotalOut(**vars(k)) for k in c.by_kind],
                deposit_fen=c.deposit_fen,
            )
            for c in day.clerks
        ],
        lines=[DayLineOut(**vars(line)) for line in day.lines],
        collections_count=day.collections_count,
        collected_fen=day.collected_fen,
        reversals_count=day.reversals_count,
        reversed_fen=day.reversed_fen,
        deposit_fen=day.deposit_fen,
        closed=DayCloseOut.model_validate(day.closed) if day.closed else None,
        signed_by_name=signer.full_name if signer else None,
    )


@router.get("/contributions/day-close", response_model=DaySummaryOut, summary="柜面日结汇总")
def day_summary(
    session: DbSession,
    principal: Reader,
    business_date: Annotated[dt.date | None, Query(description="日结日期，默认今天")] = None,
) -> DaySummaryOut:
    """The office's day: each clerk's cash by kind, reversals, receipts, the cash to deposit."""
    day = day_close.summary(
        session=session, principal=principal, on=business_date or dt.date.today()
    )
    return _day_out(session, day)


@router.post(
    "/contributions/day-close",
    response_model=DaySummaryOut,
    status_code=201,
    summary="日结签字（复核员）：当日关账",
)
def sign_day_close(
    body: DayCloseIn,
    session: DbSession,
    principal: DayCloser,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """The office's reviewer signs the day off; no collection can be dated into it after."""

    def action() -> tuple[int, Any]:
        day = day_close.sign_off(session=session, principal=principal, on=body.business_date)
        return 201, _day_out(session, day).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get(
    "/contributions/quote", response_model=QuoteOut, summary="缴费试算：各档次个人缴费与政府补贴"
)
def quote_year(
    session: DbSession,
    principal: Collector,
    person_id: int,
    year: Annotated[int, Query(ge=2009, le=2100)],
    hardship_group: Annotated[str | None, Query(max_length=32)] = None,
) -> QuoteOut:
    """What each grade of the year costs and brings; refused as the assessment would be."""
    q = quote.quote(
        session=session,
        principal=principal,
        person_id=person_id,
        year=year,
        hardship_group=hardship_group,
    )
    return QuoteOut(
        person_id=q.person_id,
        year=q.year,
        make_up=q.make_up,
        policy_version_id=q.policy_version_id,
        options=[
            GradeOptionOut(
                grade_fen=o.grade_fen,
                own_due_fen=o.own_due_fen,
                hardship_paid_fen=o.hardship_paid_fen,
                government_subsidy_fen=o.government_subsidy_fen,
            )
            for o in q.options
        ],
        hardship_groups=[HardshipChoiceOut(code=h.code, label=h.label) for h in q.hardship_groups],
    )
