"""Domain errors and their single mapping to ``application/problem+json``.

Exception tree::

    DomainError                      (400, base; carries a stable ``code``)
    ├── InvalidInput                 (422, field errors)
    ├── NotFound                     (404; also what an out-of-scope object looks like)
    ├── Conflict                     (409)
    ├── PermissionDenied             (403)
    ├── AuthenticationFailed         (401)
    ├── NoPolicyVersion              (422; no rule version covers a date and region)
    └── SchemaOutOfDate              (503)

Services raise these; views never build error responses themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One rejected field: where it is (dotted path or CSV column), and why."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        """The JSON form used in problem responses."""
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class DomainError(Exception):
    """Base of all errors a service may raise on purpose."""

    detail: str = ""
    code: str = "bad_request"
    fields: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    status: int = 400
    title: str = "请求无效"
    # Refusals of access are audited even though the request's transaction rolls back.
    audit_refusal: bool = False

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)


@dataclass
class InvalidInput(DomainError):
    code: str = "invalid_input"
    status: int = 422
    title: str = "输入数据有误"


@dataclass
class NotFound(DomainError):
    code: str = "not_found"
    status: int = 404
    title: str = "对象不存在"


@dataclass
class Conflict(DomainError):
    code: str = "conflict"
    status: int = 409
    title: str = "与现有数据冲突"


@dataclass
class PermissionDenied(DomainError):
    code: str = "permission_denied"
    status: int = 403
    title: str = "无权执行此操作"
    audit_refusal: bool = True


@dataclass
class AuthenticationFailed(DomainError):
    code: str = "authentication_failed"
    status: int = 401
    title: str = "身份验证失败"


@dataclass
class NoPolicyVersion(DomainError):
    """No policy version covers the asked date and region: never a silent default."""

    code: str = "no_policy_version"
    status: int = 422
    title: str = "没有适用的政策版本"


@dataclass
class SchemaOutOfDate(DomainError):
    code: str = "schema_out_of_date"
    status: int = 503
    title: str = "数据库结构不是最新版本"


def invalid(field_name: str, message: str, code: str = "invalid") -> InvalidInput:
    """An ``InvalidInput`` naming one field."""
    return InvalidInput(
        detail=f"{field_name}: {message}", fields=[FieldError(field_name, message, code)]
    )


def rejection_reason(reason: str | None) -> str:
    """A maker-checker rejection's reason, stripped; required (field ``reason``)."""
    if not (reason or "").strip():
        raise invalid("reason", "驳回须说明原因", "required")
    return (reason or "").strip()


def problem_body(error: DomainError, *, instance: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem document of an error."""
    body: dict[str, Any] = {
        "type": f"urn:xnb:error:{error.code}",
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "detail": error.detail or error.title,
    }
    if instance:
        body["instance"] = instance
    if error.fields:
        body["errors"] = [f.as_dict() for f in error.fields]
    body.update(error.extra)
    return body
