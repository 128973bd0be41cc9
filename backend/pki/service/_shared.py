"""Private helpers shared by several parts of the CA service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.errors import (
    AuthenticationFailed,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from backend.pki.profiles import Violation

if TYPE_CHECKING:
    from backend.orgs.service import Principal


def _serial_hex(serial: int) -> str:
    return format(serial, "x")


def _refuse_violations(violations: list[Violation], *, where: str) -> None:
    if violations:
        raise InvalidInput(
            detail="；".join(v.message for v in violations),
            code=violations[0].code,
            fields=[FieldError(where, v.message, v.code) for v in violations],
        )


def _require_scope(principal: Principal | None, region_code: str | None, what: str) -> None:
    if principal is None:  # server console
        return
    if region_code is None:
        if len(principal.scope.prefix) > 2:
            raise PermissionDenied(detail=f"只有省级管理员可管理{what}", code="scope_too_narrow")
        return
    if not principal.scope.covers(region_code):
        raise NotFound(detail=f"{what}不存在", code="not_found", audit_refusal=True)


def _refused(detail: str, code: str) -> AuthenticationFailed:
    return AuthenticationFailed(detail=detail, code=code, audit_refusal=True)
