"""Overpayments: opened by what found them, recovered until settled (DOMAIN.md §5, §11).

One record per finding (a confirmed death, a pension paid twice, a recomputation that
lowered months already paid). Recovery is append-only: each amount kept back by a paid
payroll line, repaid at a counter or taken from the account balance is one
``OverpaymentRecovery`` with its journal entry, and the overpayment's ``recovered_fen``
and status follow. Opening books the receivable (debit 1201) against the pension expense
it reverses, unless the caller's own entry already does (death settlement).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.accounts.models import Account, Source
from backend.audit.service import Actor, record
from backend.benefits.formula import split_by_source
from backend.benefits.models import Overpayment, OverpaymentRecovery
from backend.db import utcnow
from backend.errors import Conflict, invalid
from backend.ledger import chart
from backend.ledger import service as ledger
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.payroll.models import PayrollLine


class Cause:
    """What found an overpayment."""

    DEATH = "death"
    DOUBLE_PENSION = "double_pension"
    RECOMPUTE = "recompute"
    OTHER = "other"


class Method:
    """How an overpayment is recovered."""

    DEDUCTION = "deduction"  # kept back from later pensions by the payroll
    INSTALMENTS = "instalments"  # repaid by the debtor (heirs, or a pension that ended)


class RecoveryKind:
    """Where one recovered amount came from."""

    DEDUCTION = "deduction"
    REPAYMENT = "repayment"
    BALANCE = "balance"


@dataclass(frozen=True)
class Finding:
    """What opens an overpayment: who owes what, found by which record."""

    person_id: int
    pension_id: int | None
    county_code: str
    region_code: str
    cause: str
    ref_type: str
    ref_id: int
    amount_fen: int
    debtor: str  # pensioner | heirs
    method: str
    reason: str


def open_overpayment(
    *,
    session: Session,
    finding: Finding,
    actor: Actor,
    on: dt.date,
    journal_entry_id: int | None = None,
) -> Overpayment:
    """Open the overpayment of a finding (once: the same finding again returns the first).

    Without ``journal_entry_id`` the receivable is booked here (debit 1201, credit the
    basic pension expense it reverses); a caller whose own entry books it passes that id.
    """
    if finding.amount_fen <= 0:
        raise invalid("amount_fen", "多发金额须大于0", "not_positive")
    known = session.scalar(
        select(Overpayment).where(
            Overpayment.cause == finding.cause,
            Overpayment.ref_type == finding.ref_type,
            Overpayment.ref_id == finding.ref_id,
        )
    )
    if known is not None:
        return known
    if journal_entry_id is None:
        journal_entry_id = ledger.post(
            session=session,
            county_code=finding.county_code,
            event="pension.overpayment",
            lines=[
                chart.debit(chart.OVERPAYMENT_RECEIVABLE, finding.amount_fen),
                chart.credit(chart.BASIC_PENSION_EXPENSE, finding.amount_fen),
            ],
            posted_on=on,
            ref_type=finding.ref_type,
            ref_id=finding.ref_id,
            memo=finding.reason[:200],
        ).id
    overpayment = Overpayment(
        person_id=finding.person_id,
        pension_id=finding.pension_id,
        county_code=finding.county_code,
        region_code=finding.region_code,
        cause=finding.cause,
        ref_type=finding.ref_type,
        ref_id=finding.ref_id,
        debtor=finding.debtor,
        method=finding.method,
        amount_fen=finding.amount_fen,
        recovered_fen=0,
        status="open",
        reason=finding.reason[:200],
        journal_entry_id=journal_entry_id,
    )
    session.add(overpayment)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="overpayment.open",
        object_type="overpayment",
        object_id=overpayment.id,
        detail={
            "person_id": finding.person_id,
            "cause": finding.cause,
            "amount_fen": finding.amount_fen,
            "method": finding.method,
        },
    )
    return overpayment


def outstanding(overpayment: Overpayment) -> int:
    """What is still owed (fen)."""
    return overpayment.amount_fen - overpayment.recovered_fen


def apply_recovery(
    *,
    session: Session,
    overpayment: Overpayment,
    kind: str,
    amount_fen: int,
    on: dt.date,
    journal_entry_id: int,
    payroll_line_id: int | None = None,
    receipt_no: str | None = None,
    operator_id: int | None = None,
) -> OverpaymentRecovery:
    """Append one recovered amount (its journal entry already posted) and settle when done."""
    if amount_fen <= 0 or amount_fen > outstanding(overpayment):
        raise Conflict(
            detail=f"追回金额{amount_fen}分超出未追回的{outstanding(overpayment)}分",
            code="recovery_exceeds_outstanding",
        )
    recovery = OverpaymentRecovery(
        overpayment_id=overpayment.id,
        kind=kind,
        amount_fen=amount_fen,
        recovered_on=on,
        payroll_line_id=payroll_line_id,
        receipt_no=receipt_no,
        operator_id=operator_id,
        journal_entry_id=journal_entry_id,
    )
    session.add(recovery)
    overpayment.recovered_fen += amount_fen
    if overpayment.recovered_fen == overpayment.amount_fen:
        overpayment.status, overpayment.settled_at = "settled", utcnow()
    session.flush()
    return recovery


def _kept_back_at_the_bank(session: Session, overpayment_id: int) -> int:
    """What recovery lines of payments not yet answered by the bank keep back (fen)."""
    kept = session.scalar(
        select(func.coalesce(func.sum(PayrollLine.amount_fen), 0)).where(
            PayrollLine.overpayment_id == overpayment_id,
            PayrollLine.kind == "recovery",
            PayrollLine.state.in_(("built", "unknown")),
        )
    )
    return -int(kept or 0)


def get_overpayment(*, session: Session, principal: Principal, overpayment_id: int) -> Overpayment:
    """One overpayment inside the principal's scope (404 outside it)."""
    principal.require(Permission.BENEFIT_READ)
    return get_in_scope(
        session=session,
        principal=principal,
        model=Overpayment,
        object_id=overpayment_id,
        region_of=lambda found: found.region_code,
        detail=f"多发记录{overpayment_id}不存在",
        code="overpayment_not_found",
    )


def list_overpayments(
    *,
    session: Session,
    principal: Principal,
    person_id: int | None = None,
    status: str | None = None,
) -> list[Overpayment]:
    """Overpayments in scope, optionally of one person or in one status."""
    principal.require(Permission.BENEFIT_READ)
    query = select(Overpayment).where(Overpayment.region_code.startswith(principal.scope.prefix))
    if person_id is not None:
        query = query.where(Overpayment.person_id == person_id)
    if status is not None:
        query = query.where(Overpayment.status == status)
    return list(session.scalars(query.order_by(Overpayment.id)))


def repay(
    *,
    session: Session,
    principal: Principal,
    overpayment_id: int,
    amount_fen: int,
    receipt_no: str,
    on: dt.date | None = None,
) -> OverpaymentRecovery:
    """A repayment in cash at the counter (an instalment, or the whole rest)."""
    principal.require(Permission.CONTRIBUTION_COLLECT)
    overpayment = get_overpayment(
        session=session, principal=principal, overpayment_id=overpayment_id
    )
    session.refresh(overpayment, with_for_update=True)
    if overpayment.status != "open":
        raise Conflict(detail="该多发记录已结清", code="overpayment_closed")
    if amount_fen <= 0:
        raise invalid("amount_fen", "还款金额须大于0", "not_positive")
    if not receipt_no.strip():
        raise invalid("receipt_no", "须填写收据号", "required")
    being_kept = _kept_back_at_the_bank(session, overpayment.id)
    if amount_fen > outstanding(overpayment) - being_kept:
        raise Conflict(
            detail=f"还款{amount_fen}分超出尚欠的{outstanding(overpayment) - being_kept}分"
            f"（另有{being_kept}分正从发放中扣回，待银行回盘）",
            code="recovery_exceeds_outstanding",
            extra={"outstanding_fen": outstanding(overpayment), "being_kept_fen": being_kept},
        )
    on = on or dt.date.today()
    entry = ledger.post(
        session=session,
        county_code=overpayment.county_code,
        event="pension.overpayment.repay",
        lines=[
            chart.debit(chart.INCOME_BANK, amount_fen),
            chart.credit(chart.OVERPAYMENT_RECEIVABLE, amount_fen),
        ],
        posted_on=on,
        ref_type="overpayment",
        ref_id=overpayment.id,
        operator_id=principal.operator_id,
        memo=f"多发待遇退还 收据{receipt_no}",
    )
    recovery = apply_recovery(
        session=session,
        overpayment=overpayment,
        kind=RecoveryKind.REPAYMENT,
        amount_fen=amount_fen,
        on=on,
        journal_entry_id=entry.id,
        receipt_no=receipt_no.strip(),
        operator_id=principal.operator_id,
    )
    record(
        session=session,
        actor=principal.actor,
        action="overpayment.repay",
        object_type="overpayment",
        object_id=overpayment.id,
        detail={"amount_fen": amount_fen, "receipt_no": receipt_no, "status": overpayment.status},
    )
    return recovery


def recover_from_balance(
    *,
    session: Session,
    overpayment: Overpayment,
    on: dt.date,
    actor: Actor,
    operator_id: int | None = None,
) -> OverpaymentRecovery | None:
    """Recover what is still owed from the debtor's account balance, as far as it goes.

    The amount is taken from the account's sources in proportion to their balances (one
    negative entry per source) and posted Dr 2101 individual accounts / Cr 1201; the rest
    stays owed. None when nothing is owed or the account is empty.
    """
    account = session.scalar(select(Account).where(Account.person_id == overpayment.person_id))
    if account is None:
        return None
    balances = accounts.balances_by_source(session=session, account_id=account.id)
    amount = min(outstanding(overpayment), max(sum(balances.values()), 0))
    if amount <= 0:
        return None
    entry = ledger.post(
        session=session,
        county_code=account.county_code,
        event="pension.overpayment.balance",
        lines=[
            chart.debit(chart.INDIVIDUAL_ACCOUNTS, amount),
            chart.credit(chart.OVERPAYMENT_RECEIVABLE, amount),
        ],
        posted_on=on,
        ref_type="overpayment",
        ref_id=overpayment.id,
        operator_id=operator_id,
        memo="多发待遇从个人账户余额扣回",
    )
    accounts.append(
        session=session,
        account=account,
        on=on,
        amounts=[
            (Source(source), -part) for source, part in split_by_source(amount, balances).items()
        ],
        policy_version_id=None,
        ref_type="overpayment",
        ref_id=overpayment.id,
        journal_entry_id=entry.id,
    )
    recovery = apply_recovery(
        session=session,
        overpayment=overpayment,
        kind=RecoveryKind.BALANCE,
        amount_fen=amount,
        on=on,
        journal_entry_id=entry.id,
        operator_id=operator_id,
    )
    record(
        session=session,
        actor=actor,
        action="overpayment.recover_from_balance",
        object_type="overpayment",
        object_id=overpayment.id,
        detail={"amount_fen": amount, "status": overpayment.status},
    )
    return recovery
