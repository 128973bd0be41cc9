"""Every pending item a reviewer may decide, from the domains that own them.

A read-side module: it lists through each domain's own service (scope checks included)
and decides nothing — approving or rejecting goes to the owning domain's endpoint, named
in each item (``approve_path``, ``reject_path``), which enforces maker ≠ checker again.
Items the operator made are listed with ``mine`` set: shown, never approvable by them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.benefits import applications, death, payee
from backend.contributions import service as contributions
from backend.orgs.models import Operator
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.models import Person
from backend.registry.service import list_changes
from backend.transfers import double_pension


@dataclass
class Change:
    """One thing the item would change: what it is, before and after (raw values)."""

    field: str
    before: str | None
    after: str | None


@dataclass
class InboxItem:
    """A pending item: what, for whom, by whom, and where to decide it."""

    kind: str
    id: int
    person_id: int
    maker_id: int | None
    created_at: dt.datetime
    approve_path: str
    reject_path: str
    #: The body field each owning endpoint takes the reviewer's words in (None: it keeps none).
    approve_reason_field: str | None
    reject_reason_field: str | None
    changes: list[Change] = field(default_factory=list)
    amount_fen: int | None = None
    note: str | None = None
    person_name: str = ""
    maker_name: str | None = None
    mine: bool = False


def _person_changes(session: Session, principal: Principal) -> Iterable[InboxItem]:
    _, pending = list_changes(session=session, principal=principal, limit=500)
    for c in pending:
        yield InboxItem(
            kind="person_change",
            id=c.id,
            person_id=c.person_id,
            maker_id=c.maker_id,
            created_at=c.created_at,
            approve_path=f"/person-changes/{c.id}/approve",
            reject_path=f"/person-changes/{c.id}/reject",
            approve_reason_field="reason",
            reject_reason_field="reason",
            changes=[Change(c.field, c.old_value, c.new_value)],
            note=c.reason,
        )


def _refunds(session: Session, principal: Principal) -> Iterable[InboxItem]:
    for refund, person_id, year in contributions.pending_refunds(
        session=session, principal=principal
    ):
        yield InboxItem(
            kind="refund",
            id=refund.id,
            person_id=person_id,
            maker_id=refund.maker_id,
            created_at=refund.created_at,
            approve_path=f"/contributions/refunds/{refund.id}/approve",
            reject_path=f"/contributions/refunds/{refund.id}/reject",
            approve_reason_field=None,
            reject_reason_field="reason",
            changes=[Change("refund_reason", None, refund.reason), Change("year", None, str(year))],
            amount_fen=refund.amount_fen,
            note=refund.note,
        )


def _applications(session: Session, principal: Principal) -> Iterable[InboxItem]:
    for a in applications.list_applications(session=session, principal=principal, status="pending"):
        yield InboxItem(
            kind="benefit_application",
            id=a.id,
            person_id=a.person_id,
            maker_id=a.maker_id,
            created_at=a.created_at,
            approve_path=f"/benefits/applications/{a.id}/approve",
            reject_path=f"/benefits/applications/{a.id}/reject",
            approve_reason_field="note",
            reject_reason_field="note",
            changes=[
                Change("start_month", None, a.start_month.isoformat()[:7]),
                Change("contribution_years", None, str(a.contribution_years)),
                Change("bank_account", None, a.bank_account),
            ],
            amount_fen=a.balance_fen,
            note=a.note,
        )


def _deaths(session: Session, principal: Principal) -> Iterable[InboxItem]:
    for case in death.list_cases(session=session, principal=principal, status="pending"):
        yield InboxItem(
            kind="death",
            id=case.id,
            person_id=case.person_id,
            maker_id=case.maker_id,
            created_at=case.created_at,
            approve_path=f"/benefits/deaths/{case.id}/confirm",
            reject_path=f"/benefits/deaths/{case.id}/reject",
            approve_reason_field=None,
            reject_reason_field="reason",
            changes=[
                Change("died_on", None, case.died_on.isoformat()),
                Change("death_source", None, case.source),
                *(
                    [
                        Change("evidence_kind", None, case.evidence_kind),
                        Change("evidence_number", None, case.evidence_number),
                        Change("reported_by", None, case.evidence_reported_by),
                        Change("relationship", None, case.evidence_relationship),
                    ]
                    if case.evidence_kind
                    else []
                ),
            ],
        )


def _payee_changes(session: Session, principal: Principal) -> Iterable[InboxItem]:
    for c in payee.list_bank_changes(session=session, principal=principal):
        yield InboxItem(
            kind="payee_account_change",
            id=c.id,
            person_id=c.person_id,
            maker_id=c.maker_id,
            created_at=c.requested_at,
            approve_path=f"/benefits/bank-changes/{c.id}/approve",
            reject_path=f"/benefits/bank-changes/{c.id}/reject",
            approve_reason_field="note",
            reject_reason_field="reason",
            changes=[
                Change("bank_code", c.old_bank_code, c.new_bank_code),
                Change("bank_account", c.old_bank_account, c.new_bank_account),
            ],
            note=c.reason,
        )


def _double_pensions(session: Session, principal: Principal) -> Iterable[InboxItem]:
    for case in double_pension.list_cases(session=session, principal=principal, status="pending"):
        yield InboxItem(
            kind="double_pension",
            id=case.id,
            person_id=case.person_id,
            maker_id=None,
            created_at=case.created_at,
            approve_path=f"/transfers/double-pensions/{case.id}/confirm",
            reject_path=f"/transfers/double-pensions/{case.id}/reject",
            approve_reason_field=None,
            reject_reason_field="reason",
        )


#: Each source, and the permission that lets an operator decide its items.
SOURCES: list[tuple[Permission, Callable[[Session, Principal], Iterable[InboxItem]]]] = [
    (Permission.CHANGE_APPROVE, _person_changes),
    (Permission.REFUND_APPROVE, _refunds),
    (Permission.BENEFIT_APPROVE, _applications),
    (Permission.BENEFIT_APPROVE, _deaths),
    (Permission.BENEFIT_APPROVE, _payee_changes),
    (Permission.BENEFIT_APPROVE, _double_pensions),
]


def pending(*, session: Session, principal: Principal) -> list[InboxItem]:
    """Every pending item in the operator's scope that the operator's role may decide,
    oldest first, with person and maker names; the operator's own items marked ``mine``."""
    items = [
        item
        for permission, source in SOURCES
        if principal.can(permission)
        for item in source(session, principal)
    ]
    person_ids = {i.person_id for i in items}
    maker_ids = {i.maker_id for i in items if i.maker_id is not None}
    names = {p.id: p.name for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    makers = dict(
        session.execute(
            select(Operator.id, Operator.full_name).where(Operator.id.in_(maker_ids))
        ).all()
    )
    for item in items:
        item.person_name = names.get(item.person_id, "")
        item.maker_name = makers.get(item.maker_id) if item.maker_id is not None else None
        item.mine = item.maker_id == principal.operator_id
    items.sort(key=lambda i: i.created_at)
    return items
