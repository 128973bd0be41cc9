"""Regions, offices and operators under ``/api/v1``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.errors import NotFound
from backend.idempotency import respond_once
from backend.orgs import service
from backend.orgs.permissions import Permission
from backend.orgs.schemas import (
    OfficeIn,
    OfficeOut,
    OperatorIn,
    OperatorOut,
    OperatorPatch,
    RegionOut,
)
from backend.orgs.service import Principal
from backend.schemas import Page

router = APIRouter()

OrgReader = Annotated[Principal, Depends(Requires(Permission.ORG_READ))]
OperatorReader = Annotated[Principal, Depends(Requires(Permission.OPERATOR_READ))]
OperatorManager = Annotated[Principal, Depends(Requires(Permission.OPERATOR_MANAGE))]


@router.get(
    "/orgs/regions",
    response_model=list[RegionOut],
    tags=["orgs"],
    summary="行政区划（辖区根节点或某节点的下级）",
)
def list_regions(
    session: DbSession,
    principal: OrgReader,
    parent: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
) -> list[RegionOut]:
    """Children of ``parent``, or the root of the operator's scope."""
    return [
        RegionOut.model_validate(r)
        for r in service.list_regions(session=session, principal=principal, parent_code=parent)
    ]


@router.get(
    "/orgs/offices", response_model=list[OfficeOut], tags=["orgs"], summary="辖区内经办机构"
)
def list_offices(session: DbSession, principal: OrgReader) -> list[OfficeOut]:
    """Offices inside the operator's scope."""
    return [
        OfficeOut.model_validate(o)
        for o in service.list_offices(session=session, principal=principal)
    ]


@router.post(
    "/orgs/offices",
    response_model=OfficeOut,
    status_code=201,
    tags=["orgs"],
    summary="新建经办机构",
)
def create_office(
    body: OfficeIn,
    session: DbSession,
    principal: OperatorManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Attach an office to a region inside the administrator's scope."""

    def action() -> tuple[int, object]:
        if not principal.scope.covers(body.region_code):
            raise NotFound(
                detail=f"区划代码{body.region_code}不存在",
                code="region_not_found",
                audit_refusal=True,
            )
        office = service.create_office(
            session=session,
            code=body.code,
            name=body.name,
            region_code=body.region_code,
            actor=principal.actor,
        )
        return 201, OfficeOut.model_validate(office).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get(
    "/operators", response_model=Page[OperatorOut], tags=["operators"], summary="辖区内操作员"
)
def list_operators(
    session: DbSession,
    principal: OperatorReader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[OperatorOut]:
    """Operators whose office lies in the scope."""
    total, items = service.list_operators(
        session=session, principal=principal, offset=offset, limit=limit
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[OperatorOut.model_validate(o) for o in items],
    )


@router.post(
    "/operators",
    response_model=OperatorOut,
    status_code=201,
    tags=["operators"],
    summary="新建操作员",
)
def create_operator(
    body: OperatorIn,
    session: DbSession,
    principal: OperatorManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Create an account in an office of the administrator's scope, with a role it may grant."""

    def action() -> tuple[int, object]:
        operator = service.create_operator(
            session=session,
            principal=principal,
            actor=principal.actor,
            username=body.username,
            full_name=body.full_name,
            role=body.role,
            office_id=body.office_id,
            password=body.password,
        )
        return 201, OperatorOut.model_validate(operator).model_dump(mode="json")

    payload = body.model_dump(mode="json", exclude={"password"})
    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=payload,
        action=action,
    )


@router.get(
    "/operators/{operator_id}", response_model=OperatorOut, tags=["operators"], summary="查看操作员"
)
def get_operator(operator_id: int, session: DbSession, principal: OperatorReader) -> OperatorOut:
    """One operator of the scope."""
    return OperatorOut.model_validate(
        service.get_operator(session=session, principal=principal, operator_id=operator_id)
    )


@router.patch(
    "/operators/{operator_id}",
    response_model=OperatorOut,
    tags=["operators"],
    summary="修改操作员角色、状态或口令",
)
def update_operator(
    operator_id: int,
    body: OperatorPatch,
    session: DbSession,
    principal: OperatorManager,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Change role, activation or password (sessions end on deactivation or new password)."""

    def action() -> tuple[int, object]:
        operator = service.get_operator(
            session=session, principal=principal, operator_id=operator_id
        )
        service.update_operator(
            session=session,
            principal=principal,
            actor=principal.actor,
            operator=operator,
            role=body.role,
            is_active=body.is_active,
            password=body.password,
        )
        return 200, OperatorOut.model_validate(operator).model_dump(mode="json")

    payload = body.model_dump(mode="json", exclude={"password"}) | {
        "password_set": body.password is not None
    }
    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=payload,
        action=action,
    )


@router.post(
    "/operators/{operator_id}/unlock",
    response_model=OperatorOut,
    tags=["operators"],
    summary="解除登录锁定（安全管理员）",
)
def unlock_operator(
    operator_id: int,
    session: DbSession,
    principal: Annotated[Principal, Depends(Requires(Permission.OPERATOR_UNLOCK))],
) -> OperatorOut:
    """Lift a lockout; repeating it changes nothing further."""
    operator = service.get_operator(session=session, principal=principal, operator_id=operator_id)
    return OperatorOut.model_validate(
        service.unlock_operator(
            session=session, principal=principal, actor=principal.actor, operator=operator
        )
    )
