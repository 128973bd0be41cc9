"""Qualification, applications and awards under ``/api/v1/benefits``.

Every state-changing request needs an ``Idempotency-Key``: a retry returns the first answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backend.audit.reads import record_person_read
from backend.benefits import applications, payee, service, survival
from backend.benefits.kiosk_views import router as kiosk_router
from backend.benefits.schemas import (
    ApplicationIn,
    ApplicationOut,
    BankChangeIn,
    BankChangeOut,
    CertificationIn,
    CertificationOut,
    ComputationOut,
    DecisionIn,
    PartsOut,
    PensionOut,
    QualificationOut,
    ReasonOut,
)
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import RejectionIn

router = APIRouter(prefix="/benefits", tags=["benefits"])
Reader = Annotated[Principal, Depends(Requires(Permission.BENEFIT_READ))]
Maker = Annotated[Principal, Depends(Requires(Permission.BENEFIT_APPLY))]
Checker = Annotated[Principal, Depends(Requires(Permission.BENEFIT_APPROVE))]
Certifier = Annotated[Principal, Depends(Requires(Permission.SURVIVAL_CERTIFY))]
# Self-service certification by a kiosk (no operator): /benefits/kiosk/…
router.include_router(kiosk_router)


@router.get(
    "/persons/{person_id}/qualification", response_model=QualificationOut, summary="待遇资格审查"
)
def qualification(
    person_id: int, session: DbSession, principal: Reader, on: dt.date | None = None
) -> QualificationOut:
    """Whether the person qualifies on ``on`` (today by default), with every reason if not."""
    day = on or dt.date.today()
    result = service.check(session=session, principal=principal, person_id=person_id, on=day)
    parts = result.parts
    return QualificationOut(
        person_id=person_id,
        on=day,
        qualifies=not result.reasons,
        reasons=[ReasonOut(rule=r.rule, message=r.message) for r in result.reasons],
        start_month=result.start_month,
        pension=PartsOut(**{name: getattr(parts, name) for name in PartsOut.model_fields}),
    )


@router.post(
    "/applications", response_model=ApplicationOut, status_code=201, summary="申请养老金待遇"
)
def apply(
    body: ApplicationIn,
    session: DbSession,
    principal: Maker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Apply for a qualifying person (409 ``not_qualified`` lists every reason otherwise)."""

    def action() -> tuple[int, object]:
        application = applications.apply(
            session=session,
            principal=principal,
            person_id=body.person_id,
            applied_on=body.applied_on or dt.date.today(),
            bank_code=body.bank_code,
            bank_account=body.bank_account,
        )
        return 201, ApplicationOut.model_validate(application).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("/applications", response_model=list[ApplicationOut], summary="待遇申请列表")
def list_applications(
    session: DbSession, principal: Reader, status: str | None = None
) -> list[ApplicationOut]:
    """Applications of the operator's scope."""
    found = applications.list_applications(session=session, principal=principal, status=status)
    return [ApplicationOut.model_validate(a) for a in found]


def _decide(
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
    application_id: int,
    body: DecisionIn,
    accept: bool,
) -> JSONResponse:
    def action() -> tuple[int, object]:
        application = applications.decide(
            session=session,
            principal=principal,
            application_id=application_id,
            accept=accept,
            note=body.note,
        )
        return 200, ApplicationOut.model_validate(application).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/applications/{application_id}/approve",
    response_model=ApplicationOut,
    summary="审核通过待遇申请",
)
def approve(
    application_id: int,
    body: DecisionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Award the pension (the checker may not be the maker)."""
    return _decide(session, principal, key, request, application_id, body, True)


@router.post(
    "/applications/{application_id}/reject", response_model=ApplicationOut, summary="驳回待遇申请"
)
def reject(
    application_id: int,
    body: DecisionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Reject an application."""
    return _decide(session, principal, key, request, application_id, body, False)


@router.get("/pensions/{person_id}", response_model=PensionOut, summary="养老金待遇及核定明细")
def pension(person_id: int, session: DbSession, principal: Reader) -> PensionOut:
    """A pensioner's record with every computation and the policy version of each."""
    found = service.get_pension(session=session, principal=principal, person_id=person_id)
    out = PensionOut.model_validate(found)
    out.paid_through = service.paid_through(session=session, pension=found)
    out.computations = [
        ComputationOut.model_validate(c)
        for c in service.computations(session=session, pension_id=found.id)
    ]
    # Last: on PostgreSQL the audit chain's head stays locked until the commit.
    record_person_read(session=session, actor=principal.actor, person_id=person_id, via="pension")
    return out


@router.post(
    "/pensions/{person_id}/certifications",
    response_model=CertificationOut,
    status_code=201,
    summary="领取资格认证",
)
def certify(
    person_id: int,
    body: CertificationIn,
    session: DbSession,
    principal: Certifier,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Record a certification; a pension suspended for lapsing resumes (back pay follows)."""

    def action() -> tuple[int, object]:
        certification = survival.certify(
            session=session,
            principal=principal,
            person_id=person_id,
            method=body.method,
            certified_on=body.certified_on or dt.date.today(),
            documents=body.documents_seen,
        )
        return 201, CertificationOut.model_validate(certification).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.put(
    "/pensions/{person_id}/bank",
    response_model=BankChangeOut,
    status_code=202,
    summary="申请变更待遇发放账户（待复核）",
)
def request_bank_change(
    person_id: int,
    body: BankChangeIn,
    session: DbSession,
    principal: Maker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Ask to pay the pension to another account of the pensioner (202): nothing changes until
    another operator approves at ``/benefits/bank-changes/{id}/approve``."""

    def action() -> tuple[int, object]:
        change = payee.request_bank_change(
            session=session,
            principal=principal,
            person_id=person_id,
            bank_code=body.bank_code,
            bank_account=body.bank_account,
            account_holder=body.account_holder,
            reason=body.reason,
        )
        return 202, BankChangeOut.model_validate(change).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("/bank-changes", response_model=list[BankChangeOut], summary="发放账户变更申请列表")
def list_bank_changes(
    session: DbSession,
    principal: Reader,
    status: Annotated[
        Literal["pending", "approved", "rejected"], Query(description="申请状态")
    ] = "pending",
) -> list[BankChangeOut]:
    """Requests of the scope, oldest first; by default those waiting for a reviewer."""
    changes = payee.list_bank_changes(session=session, principal=principal, status=status)
    return [BankChangeOut.model_validate(c) for c in changes]


@router.get(
    "/bank-changes/{bank_change_id}", response_model=BankChangeOut, summary="发放账户变更申请"
)
def get_bank_change(bank_change_id: int, session: DbSession, principal: Reader) -> BankChangeOut:
    """One request of the scope."""
    change = payee.get_bank_change(session=session, principal=principal, change_id=bank_change_id)
    return BankChangeOut.model_validate(change)


@router.post(
    "/bank-changes/{bank_change_id}/approve",
    response_model=BankChangeOut,
    summary="复核通过发放账户变更",
)
def approve_bank_change(
    bank_change_id: int,
    body: DecisionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Another operator approves: the pension is paid to the new account from now on."""

    def action() -> tuple[int, object]:
        change, _ = payee.approve_bank_change(
            session=session, principal=principal, change_id=bank_change_id, comment=body.note
        )
        return 200, BankChangeOut.model_validate(change).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/bank-changes/{bank_change_id}/reject",
    response_model=BankChangeOut,
    summary="驳回发放账户变更",
)
def reject_bank_change(
    bank_change_id: int,
    body: RejectionIn,
    session: DbSession,
    principal: Checker,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Another operator rejects, saying why; the pension stays paid to its account."""

    def action() -> tuple[int, object]:
        change = payee.reject_bank_change(
            session=session, principal=principal, change_id=bank_change_id, reason=body.reason
        )
        return 200, BankChangeOut.model_validate(change).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )
