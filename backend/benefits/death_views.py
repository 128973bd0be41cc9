"""Death reports and their maker-checker decision under ``/api/v1/benefits/deaths``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend.benefits import death
from backend.benefits.schemas import DeathCaseOut, DeathDecisionIn, DeathIn
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import RejectionIn

router = APIRouter(prefix="/benefits/deaths", tags=["benefits"])
Reader = Annotated[Principal, Depends(Requires(Permission.BENEFIT_READ))]
Maker = Annotated[Principal, Depends(Requires(Permission.BENEFIT_APPLY))]
Checker = Annotated[Principal, Depends(Requires(Permission.BENEFIT_APPROVE))]


@router.post("", response_model=DeathCaseOut, status_code=201, summary="死亡登记")
def report(
    body: DeathIn, session: DbSession, principal: Maker, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Report a death; the pension is suspended at once, pending a checker."""

    def action() -> tuple[int, object]:
        case = death.report_death(
            session=session,
            principal=principal,
            person_id=body.person_id,
            died_on=body.died_on,
            evidence=body.evidence.model_dump() if body.evidence else None,
        )
        return 201, DeathCaseOut.model_validate(case).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("", response_model=list[DeathCaseOut], summary="死亡登记列表")
def list_cases(
    session: DbSession, principal: Reader, status: str | None = None
) -> list[DeathCaseOut]:
    """Death cases in the scope (``status=pending`` for the checker's queue)."""
    found = death.list_cases(session=session, principal=principal, status=status)
    return [DeathCaseOut.model_validate(c) for c in found]


def _decide(
    case_id: int,
    body: DeathDecisionIn | RejectionIn,
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
    accept: bool,
) -> JSONResponse:
    def action() -> tuple[int, object]:
        case = death.decide_death(
            session=session,
            principal=principal,
            case_id=case_id,
            accept=accept,
            heir_name=body.heir_name if isinstance(body, DeathDecisionIn) else None,
            heir_id_number=body.heir_id_number if isinstance(body, DeathDecisionIn) else None,
            reason=body.reason if isinstance(body, RejectionIn) else None,
        )
        return 200, DeathCaseOut.model_validate(case).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post("/{case_id}/confirm", response_model=DeathCaseOut, summary="确认死亡并结算")
def confirm(
    case_id: int,
    body: DeathDecisionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """End the pension, recover overpayments, pay the heirs and the funeral grant."""
    return _decide(case_id, body, session, principal, key, request, True)


@router.post("/{case_id}/reject", response_model=DeathCaseOut, summary="驳回死亡登记")
def reject(
    case_id: int,
    body: RejectionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Not dead after all (the reviewer says why): payment resumes, with back pay for the
    months held back."""
    return _decide(case_id, body, session, principal, key, request, False)
