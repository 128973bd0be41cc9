"""Changing the account a pension is paid to: maker-checker, like a change of name.

A clerk asks (``request_bank_change``): the new bank and account, the account holder's
name as read from the card or passbook, and why. The holder must be the pensioner (the
name is checked against the register; no partner bank answers account look-ups yet, so
``holder_check`` records that the register, not the bank, was asked). Nothing is paid
differently until a different operator with the reviewer's permission approves
(``approve_bank_change``); a rejection needs a reason. Both decisions are conditional
updates of a pending request, audited, and keep ``requested_at`` / ``approved_at`` so
supervision can ask which payee accounts changed shortly before a payment.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import errors
from backend.audit.service import record
from backend.benefits.models import PayeeBankChange, Pension
from backend.benefits.service import get_pension
from backend.db import utcnow
from backend.errors import Conflict, PermissionDenied, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.registry.models import Person


class ChangeStatus:
    """Where a payee account change stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


#: The holder's name was compared with the pensioner's in the register (no bank answer).
NAME_MATCHES_PENSIONER = "name_matches_pensioner"


def _plain_name(name: str) -> str:
    """A name compared as people write it: no spaces, one kind of middle dot."""
    return "".join(name.split()).replace("•", "·").replace("．", "·")


def _account(bank_code: str, account: str) -> dict[str, str]:
    """An account as the audit log keeps it: the bank and the number's last four digits."""
    return {"bank_code": bank_code, "account": f"****{account[-4:]}"}


def request_bank_change(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    bank_code: str,
    bank_account: str,
    account_holder: str,
    reason: str,
) -> PayeeBankChange:
    """A clerk asks to pay a pension to another account; it waits for a reviewer."""
    principal.require(Permission.BENEFIT_APPLY)
    pension = get_pension(session=session, principal=principal, person_id=person_id)
    person = session.get(Person, pension.person_id)
    assert person is not None  # foreign key
    if not reason.strip():
        raise invalid("reason", "须说明变更发放账户的原因", "required")
    if _plain_name(account_holder) != _plain_name(person.name):
        raise invalid(
            "account_holder",
            "账户户名与领取人姓名不一致：养老金只能发放到领取人本人的账户",
            "holder_not_pensioner",
        )
    if (bank_code, bank_account) == (pension.bank_code, pension.bank_account):
        raise Conflict(detail="新账户与现发放账户相同", code="same_account")
    change = PayeeBankChange(
        pension_id=pension.id,
        person_id=pension.person_id,
        county_code=pension.county_code,
        region_code=pension.region_code,
        old_bank_code=pension.bank_code,
        old_bank_account=pension.bank_account,
        new_bank_code=bank_code,
        new_bank_account=bank_account,
        account_holder=account_holder.strip(),
        holder_check=NAME_MATCHES_PENSIONER,
        reason=reason.strip(),
        status=ChangeStatus.PENDING,
        maker_id=principal.operator_id,
        requested_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(change)
    except IntegrityError as exc:  # one open request per pension (partial unique index)
        raise Conflict(
            detail="该领取人已有待审核的发放账户变更", code="bank_change_pending"
        ) from exc
    record(
        session=session,
        actor=principal.actor,
        action="benefit.bank_change.request",
        object_type="pension",
        object_id=pension.id,
        detail={
            "change_id": change.id,
            "before": _account(pension.bank_code, pension.bank_account),
            "after": _account(bank_code, bank_account),
            "holder_check": change.holder_check,
        },
    )
    return change


def get_bank_change(*, session: Session, principal: Principal, change_id: int) -> PayeeBankChange:
    """One change request inside the operator's scope, or ``NotFound``."""
    principal.require(Permission.BENEFIT_READ)
    return get_in_scope(
        session=session,
        principal=principal,
        model=PayeeBankChange,
        object_id=change_id,
        region_of=lambda found: found.region_code,
        detail=f"发放账户变更申请{change_id}不存在",
        code="bank_change_not_found",
    )


def list_bank_changes(
    *, session: Session, principal: Principal, status: str = ChangeStatus.PENDING
) -> list[PayeeBankChange]:
    """Change requests of the scope in one status, oldest first (a reviewer's inbox)."""
    principal.require(Permission.BENEFIT_READ)
    return list(
        session.scalars(
            select(PayeeBankChange)
            .where(
                PayeeBankChange.status == status,
                PayeeBankChange.region_code.startswith(principal.scope.prefix),
            )
            .order_by(PayeeBankChange.requested_at, PayeeBankChange.id)
        )
    )


def _decide(
    session: Session, principal: Principal, change_id: int, status: str, reason: str | None
) -> PayeeBankChange:
    """Take the decision: one conditional UPDATE of a pending request by another operator."""
    principal.require(Permission.BENEFIT_APPROVE)
    change = get_bank_change(session=session, principal=principal, change_id=change_id)
    if change.maker_id == principal.operator_id:
        raise PermissionDenied(detail="申请人不能审核自己的申请", code="maker_is_checker")
    now = utcnow()
    taken = session.execute(
        update(PayeeBankChange)
        .where(PayeeBankChange.id == change.id, PayeeBankChange.status == ChangeStatus.PENDING)
        .values(
            status=status,
            checker_id=principal.operator_id,
            decision_reason=reason,
            approved_at=now if status == ChangeStatus.APPROVED else None,
            rejected_at=now if status == ChangeStatus.REJECTED else None,
        )
        .returning(PayeeBankChange.id)
    ).scalar()
    if taken is None:
        raise Conflict(detail="该申请已处理", code="bank_change_decided")
    session.refresh(change)
    return change


def approve_bank_change(
    *, session: Session, principal: Principal, change_id: int, comment: str | None = None
) -> tuple[PayeeBankChange, Pension]:
    """A reviewer approves: from now on the pension is paid to the new account."""
    change = _decide(session, principal, change_id, ChangeStatus.APPROVED, comment)
    pension = session.get(Pension, change.pension_id)
    assert pension is not None  # foreign key
    session.refresh(pension, with_for_update=True)
    if (pension.bank_code, pension.bank_account) != (change.old_bank_code, change.old_bank_account):
        raise Conflict(
            detail="申请后发放账户已被变更，请驳回并重新申请", code="bank_change_outdated"
        )
    pension.bank_code, pension.bank_account = change.new_bank_code, change.new_bank_account
    pension.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="benefit.bank_change.approve",
        object_type="pension",
        object_id=pension.id,
        detail={
            "change_id": change.id,
            "maker_id": change.maker_id,
            "after": _account(change.new_bank_code, change.new_bank_account),
        },
    )
    return change, pension


def reject_bank_change(
    *, session: Session, principal: Principal, change_id: int, reason: str
) -> PayeeBankChange:
    """A reviewer rejects, saying why; the pension stays paid to its account."""
    reason = errors.rejection_reason(reason)
    change = _decide(session, principal, change_id, ChangeStatus.REJECTED, reason)
    record(
        session=session,
        actor=principal.actor,
        action="benefit.bank_change.reject",
        object_type="pension",
        object_id=change.pension_id,
        detail={"change_id": change.id, "maker_id": change.maker_id, "reason": reason},
    )
    return change
