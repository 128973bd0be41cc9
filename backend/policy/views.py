"""Policy tables: read by every operator, changed by two province administrators."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backend.deps import CurrentPrincipal, DbSession, IdempotencyKey, Requires
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.policy import service
from backend.policy.schemas import RulesOut, VersionDetail, VersionIn, VersionOut

router = APIRouter(prefix="/policy", tags=["policy"])
PolicyAdmin = Annotated[Principal, Depends(Requires(Permission.POLICY_MANAGE))]


@router.get("/versions", response_model=list[VersionOut], summary="政策版本列表")
def list_versions(
    session: DbSession, principal: CurrentPrincipal, status: str | None = None
) -> list[VersionOut]:
    """Every version (policy is public to all operators)."""
    return [
        VersionOut.model_validate(v) for v in service.list_versions(session=session, status=status)
    ]


@router.get("/versions/{version_id}", response_model=VersionDetail, summary="政策版本详情")
def get_version(session: DbSession, principal: CurrentPrincipal, version_id: int) -> VersionDetail:
    """One version with its complete rules."""
    return VersionDetail.of(service.get_version(session=session, version_id=version_id))


@router.get("/rules", response_model=RulesOut, summary="查询某地某日适用的政策")
def rules_on(
    session: DbSession,
    principal: CurrentPrincipal,
    region_code: Annotated[str, Query(min_length=6, max_length=12)],
    on: dt.date,
) -> RulesOut:
    """The version in force; a date no version covers is a 422 ``no_policy_version``."""
    version = service.version_on(session=session, region_code=region_code, on=on)
    return RulesOut(
        version_id=version.id,
        region_prefix=version.region_prefix,
        on=on,
        rules=json.loads(version.rules_json),
    )


@router.post("/versions", response_model=VersionDetail, status_code=201, summary="提出政策版本")
def propose(
    body: VersionIn,
    session: DbSession,
    principal: PolicyAdmin,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Propose a version; it applies only after another policy administrator approves it."""

    def action() -> tuple[int, object]:
        version = service.propose(
            session=session,
            principal=principal,
            version_in=service.VersionIn(**body.model_dump()),
        )
        return 201, VersionDetail.of(version).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


def _decide(
    session: DbSession,
    principal: Principal,
    key: str | None,
    request: Request,
    version_id: int,
    accept: bool,
) -> JSONResponse:
    def action() -> tuple[int, object]:
        version = service.approve(
            session=session, principal=principal, version_id=version_id, accept=accept
        )
        return 200, VersionDetail.of(version).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload={},
        action=action,
    )


@router.post(
    "/versions/{version_id}/approve", response_model=VersionDetail, summary="审核通过政策版本"
)
def approve(
    version_id: int,
    session: DbSession,
    principal: PolicyAdmin,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Activate a pending version (the checker may not be its maker)."""
    return _decide(session, principal, key, request, version_id, True)


@router.post("/versions/{version_id}/reject", response_model=VersionDetail, summary="驳回政策版本")
def reject(
    version_id: int,
    session: DbSession,
    principal: PolicyAdmin,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Reject a pending version."""
    return _decide(session, principal, key, request, version_id, False)
