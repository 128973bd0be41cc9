"""Reading payrolls, and the review and approval steps (three different operators).

The builder (a clerk) makes the payroll, a reviewer checks it, and an administrator of the
county or province approves it; nobody may do two of these steps on one payroll.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll.build import Status
from backend.payroll.models import Payroll, PayrollExclusion, PayrollLine

STATUS_LABELS = {
    Status.BUILDING: "生成中",
    Status.DRAFT: "草稿",
    Status.REVIEWED: "已复核",
    Status.APPROVED: "已审批",
    Status.SENT: "已送银行",
    Status.RECONCILED: "已对账",
}


def get_payroll(*, session: Session, principal: Principal, payroll_id: int) -> Payroll:
    """A payroll whose scope lies inside the operator's scope (else it looks not found)."""
    payroll = session.get(Payroll, payroll_id)
    if payroll is None or not payroll.scope.startswith(principal.scope.prefix):
        raise NotFound(
            detail=f"发放名册{payroll_id}不存在",
            code="payroll_not_found",
            audit_refusal=payroll is not None,
        )
    return payroll


def list_payrolls(*, session: Session, principal: Principal) -> list[Payroll]:
    """Payrolls in the operator's scope, newest month first."""
    return list(
        session.scalars(
            select(Payroll)
            .where(Payroll.scope.startswith(principal.scope.prefix))
            .order_by(Payroll.month.desc(), Payroll.scope)
        )
    )


def _step(
    session: Session,
    principal: Principal,
    payroll_id: int,
    *,
    permission: Permission,
    expected: str,
    action: str,
) -> Payroll:
    principal.require(permission)
    payroll = get_payroll(session=session, principal=principal, payroll_id=payroll_id)
    session.refresh(payroll, with_for_update=True)
    if payroll.status != expected:
        raise Conflict(
            detail=f"发放名册当前为“{STATUS_LABELS[payroll.status]}”，不能{action}",
            code="payroll_wrong_status",
            extra={"status": payroll.status},
        )
    earlier = {payroll.built_by, payroll.reviewed_by} - {None}
    if principal.operator_id in earlier:
        raise PermissionDenied(detail="生成、复核与审批须由不同经办人完成", code="maker_is_checker")
    return payroll


def review(*, session: Session, principal: Principal, payroll_id: int) -> Payroll:
    """A reviewer (not the builder) confirms a draft payroll."""
    payroll = _step(
        session,
        principal,
        payroll_id,
        permission=Permission.PAYROLL_REVIEW,
        expected=Status.DRAFT,
        action="复核",
    )
    payroll.status, payroll.reviewed_by, payroll.reviewed_at = (
        Status.REVIEWED,
        principal.operator_id,
        utcnow(),
    )
    session.flush()
    _audit(session, principal, payroll, "payroll.review")
    return payroll


def approve(*, session: Session, principal: Principal, payroll_id: int) -> Payroll:
    """An administrator (neither builder nor reviewer) approves a reviewed payroll, once."""
    payroll = _step(
        session,
        principal,
        payroll_id,
        permission=Permission.PAYROLL_APPROVE,
        expected=Status.REVIEWED,
        action="审批",
    )
    payroll.status, payroll.approved_by, payroll.approved_at = (
        Status.APPROVED,
        principal.operator_id,
        utcnow(),
    )
    session.flush()
    _audit(session, principal, payroll, "payroll.approve")
    return payroll


def _audit(session: Session, principal: Principal, payroll: Payroll, action: str) -> None:
    record(
        session=session,
        actor=principal.actor,
        action=action,
        object_type="payroll",
        object_id=payroll.id,
        detail={
            "month": f"{payroll.month:%Y-%m}",
            "scope": payroll.scope,
            "lines": payroll.line_count,
            "total_fen": payroll.total_fen,
        },
    )


def lines(
    *, session: Session, principal: Principal, payroll_id: int, person_id: int | None = None
) -> list[PayrollLine]:
    """The lines of a payroll (of one person when given), in id order."""
    payroll = get_payroll(session=session, principal=principal, payroll_id=payroll_id)
    query = select(PayrollLine).where(PayrollLine.payroll_id == payroll.id)
    if person_id is not None:
        query = query.where(PayrollLine.person_id == person_id)
    return list(session.scalars(query.order_by(PayrollLine.id).limit(1000)))


def exclusions(
    *, session: Session, principal: Principal, payroll_id: int
) -> list[PayrollExclusion]:
    """Who was left out of a payroll, and why."""
    payroll = get_payroll(session=session, principal=principal, payroll_id=payroll_id)
    return list(
        session.scalars(
            select(PayrollExclusion)
            .where(PayrollExclusion.payroll_id == payroll.id)
            .order_by(PayrollExclusion.id)
            .limit(1000)
        )
    )
