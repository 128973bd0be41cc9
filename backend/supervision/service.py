"""Reading findings and runs, scoped to the caller's region (nothing here changes data)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.supervision.models import Finding, Run
from backend.supervision.rules import BY_NAME

STATUSES = ("open", "resolved", "cleared")


def list_findings(
    *,
    session: Session,
    principal: Principal,
    rule: str | None = None,
    region: str | None = None,
    status: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[Finding]:
    """Findings in the caller's region (optionally one rule, a region below it, one status)."""
    principal.require(Permission.SUPERVISION_READ)
    if rule is not None and rule not in BY_NAME:
        raise invalid("rule", f"没有这条规则；可用：{'、'.join(BY_NAME)}")
    if status is not None and status not in STATUSES:
        raise invalid("status", "状态须为 open、resolved 或 cleared")
    prefix = principal.scope.prefix
    if region is not None:
        if not region.isdigit() or len(region) > 12:
            raise invalid("region", "区划须为不超过12位的数字前缀")
        if not region.startswith(prefix):
            if not prefix.startswith(region):
                raise NotFound(detail="该区划不在本机构管辖范围内", code="region_out_of_scope")
        else:
            prefix = region
    query = select(Finding).where(Finding.region_code.startswith(prefix), Finding.id > after_id)
    if rule is not None:
        query = query.where(Finding.rule == rule)
    if status is not None:
        query = query.where(Finding.status == status)
    return list(session.scalars(query.order_by(Finding.id).limit(limit)))


def get_finding(*, session: Session, principal: Principal, finding_id: int) -> Finding:
    """One finding; outside the caller's region it does not exist."""
    principal.require(Permission.SUPERVISION_READ)
    finding = session.get(Finding, finding_id)
    if finding is None or not principal.scope.covers(finding.region_code):
        raise NotFound(detail="疑点不存在", code="finding_not_found")
    return finding


def list_runs(*, session: Session, principal: Principal, limit: int = 50) -> list[Run]:
    """The latest runs over the caller's region or a part of it."""
    principal.require(Permission.SUPERVISION_READ)
    return list(
        session.scalars(
            select(Run)
            .where(Run.region_prefix.startswith(principal.scope.prefix))
            .order_by(Run.id.desc())
            .limit(limit)
        )
    )
